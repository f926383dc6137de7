"""100,000 mutated tokens against the pixel and the redirect: no redirect, no hit, no 5xx."""

from __future__ import annotations

import asyncio
import random
import string

from engine.tracking.buffer import MemoryBuffer
from engine.tracking.tokens import click_token, open_token
from tracking.app import LinkTargets, create_tracking_app

KEYS = [b"current-key-" + b"c" * 32, b"previous-key-" + b"p" * 32]
RETIRED = [b"retired-key-" + b"r" * 32]
ALPHABET = string.ascii_letters + string.digits + "-_."
MUTATIONS = 100_000


class CountingTargets(LinkTargets):
    """The real lookup, counting how often a token got as far as the database."""

    def __init__(self) -> None:
        self.lookups = 0

    async def target(self, uid: str, position: int) -> str | None:
        self.lookups += 1
        return "https://example.jp/"


def mutate(token: str, rng: random.Random, others: list[str]) -> str:
    """One mutation: a flipped character or bit, truncation, swapped ids, an old key, junk."""
    choice = rng.randrange(7)
    if choice == 0:  # flip one character
        i = rng.randrange(len(token))
        replacement = rng.choice([c for c in ALPHABET if c != token[i]])
        return token[:i] + replacement + token[i + 1 :]
    if choice == 1:  # flip one bit of one byte
        raw = bytearray(token.encode())
        i = rng.randrange(len(raw))
        raw[i] ^= 1 << rng.randrange(7)
        return raw.decode("latin-1")
    if choice == 2:  # truncate or extend
        cut = rng.randrange(len(token))
        return token[:cut] if rng.random() < 0.7 else token + rng.choice(ALPHABET)
    if choice == 3:  # another message's id with this token's signature
        other = rng.choice(others)
        return other.split(".")[0] + token[token.index(".") :]
    if choice == 4:  # signed with a key this installation no longer holds
        uid = "".join(rng.choice(string.ascii_letters) for _ in range(22))
        return click_token(uid, rng.randrange(20), RETIRED)
    if choice == 5:  # another position with the same signature
        parts = token.split(".")
        if len(parts) == 3:
            parts[1] = str(int(parts[1]) + rng.randrange(1, 5))
        return ".".join(parts)
    return "".join(rng.choice(ALPHABET + "%/<>'\"\\ ") for _ in range(rng.randrange(1, 80)))


async def request(app, path: str) -> tuple[int, dict[bytes, bytes]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"user-agent", b"fuzz")],
        "client": ("198.51.100.7", 50000),
        "server": ("testserver", 443),
    }
    answer: dict[str, object] = {}

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = dict(message["headers"])

    await app(scope, receive, send)
    return int(answer["status"]), answer["headers"]  # type: ignore[arg-type]


def test_mutated_tokens_never_redirect_record_or_fail():
    rng = random.Random(20261203)
    buffer = MemoryBuffer()
    targets = CountingTargets()
    app = create_tracking_app(keys=KEYS, buffer=buffer, links=targets)
    uids = ["".join(rng.choice(string.ascii_letters) for _ in range(22)) for _ in range(50)]
    clicks = [click_token(u, rng.randrange(1, 9), [KEYS[rng.randrange(2)]]) for u in uids]
    opens = [open_token(u, KEYS) for u in uids]
    genuine = set(clicks) | set(opens)
    statuses: dict[int, int] = {}
    redirects = 0

    async def run() -> None:
        nonlocal redirects
        # The genuine tokens work (so the fuzzing exercises a live endpoint)...
        status, headers = await request(app, f"/c/{clicks[0]}")
        assert status == 302 and headers[b"location"] == b"https://example.jp/"
        assert (await request(app, f"/o/{opens[0]}.gif"))[0] == 200
        assert buffer.depth() == 2
        buffer.take(10, 0)
        targets.lookups = 0
        for n in range(MUTATIONS):
            pool = clicks if n % 2 else opens
            token = mutate(rng.choice(pool), rng, pool)
            while token in genuine:  # a mutation that happened to give back a real token
                token = mutate(rng.choice(pool), rng, pool)
            path = f"/c/{token}" if n % 2 else f"/o/{token}.gif"
            status, headers = await request(app, path)
            statuses[status] = statuses.get(status, 0) + 1
            redirects += b"location" in headers

    asyncio.run(run())
    assert redirects == 0
    assert buffer.depth() == 0  # nothing recorded
    assert targets.lookups == 0  # no forged token reached the link table
    assert not [s for s in statuses if s >= 500]
    assert sum(statuses.values()) == MUTATIONS
    assert set(statuses) <= {200, 404, 405}
