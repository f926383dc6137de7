"""A broadcast end to end into Postfix's ``smtp-sink``, against ``smtp-source`` into the same sink.

The baseline is ``smtp-source -s 10 -l 10240 -m N``: ten sessions pushing N bare 10 KB
messages, the most a loopback sink takes (the median of ``--repeat`` runs). Nurture then
sends N-recipient broadcasts into the same sink, in a child process (the worker): seeding
excluded, the timed part walks the audience (message rows and outbox rows in keyset
batches), then renders, rewrites links for tracking, composes and sends each outbox batch
as the ``email.send`` actor would, recording every outcome. It runs twice, once per
figure: DKIM-signed (a fresh 2048-bit RSA key), then unsigned into a message table that
already holds the first run's N rows. Messages per second are the figures, as ratios to
smtp-source; the console line also gives each run's sender CPU per message, which moves
far less than the rates on a shared machine. Also measured: rendering alone (the template
for N contacts) against the same baseline, and the child's peak RSS against a bare
interpreter's.

``NURTURE_BENCH_RECIPIENTS`` sets N (default 100,000). ``NURTURE_BENCH_SENDERS`` sets how
many worker processes share the outbox batches (default 1), as ``nurture worker
--processes`` would; on SQLite one sender holds the write lock through its batch, so more
than one helps only on PostgreSQL. Each process keeps ``SESSIONS`` SMTP connections, as
many as smtp-source opens. Postfix is installed if missing (``apt-get install postfix``;
its service is never started).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.latency import free_port
from bench.runner import Context, Figure, console, median

SINK = "/usr/sbin/smtp-sink"
SOURCE = "/usr/sbin/smtp-source"
ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = "seminar-thanks-ja"
TOPIC = "seminar_followup"
SEED_BATCH = 5_000
#: SMTP sessions: smtp-source's ``-s`` and each Nurture sender's pooled connections.
SESSIONS = 10
BROADCAST = f"""\
id: bench
name: ベンチマーク配信
template: {TEMPLATE}
topic: {TOPIC}
audience: {{tag: bench}}
"""


def recipients() -> int:
    """N, from ``NURTURE_BENCH_RECIPIENTS``."""
    return int(os.environ.get("NURTURE_BENCH_RECIPIENTS", "100000"))


def senders() -> int:
    """Sending worker processes, from ``NURTURE_BENCH_SENDERS``."""
    return max(1, int(os.environ.get("NURTURE_BENCH_SENDERS", "1")))


def run(context: Context) -> list[Figure]:
    """Measure smtp-source, then Nurture's broadcast, rendering and RSS."""
    count = recipients()
    _ensure_postfix()
    baseline = median([_smtp_source(context.folder, count) for _ in range(context.repeat)])
    child = _child(context, count)
    bare = _bare_rss()
    runs = child["runs"]
    for mode, label in (("dkim", "DKIM-signed"), ("plain", "unsigned")):
        run = runs[mode]
        console.print(
            f"  {label}: {run['send_rate']:,.0f} msg/s (walk {run['walk_seconds']:.1f} s, "
            f"send {run['send_seconds']:.1f} s, {run['sent']:,} sent by {run['senders']} "
            f"process(es), {run['sender_cpu_ms']:.2f} ms of sender CPU each)"
        )
    console.print(
        f"  smtp-source {baseline:,.0f} msg/s; render {child['render_rate']:,.0f}/s; "
        f"peak RSS {child['rss_mb']:.0f} MB"
    )
    figure = _figure(baseline)
    return [
        figure("broadcast end to end (tracking)", "msg/s", runs["plain"]["send_rate"]),
        figure("broadcast end to end, DKIM on (tracking)", "msg/s", runs["dkim"]["send_rate"]),
        figure("render only", "msg/s", child["render_rate"]),
        Figure(
            "broadcast",
            "worker peak RSS",
            "MB",
            child["rss_mb"],
            "idle interpreter, same imports",
            bare,
            1,
        ),
    ]


def _figure(baseline: float) -> Any:
    def make(what: str, unit: str, value: float) -> Figure:
        # One broadcast per mode (minutes each at 100,000); smtp-source's median of --repeat.
        return Figure("broadcast", what, unit, value, "smtp-source", baseline, 1)

    return make


def _ensure_postfix() -> None:
    if Path(SINK).exists() and Path(SOURCE).exists():
        return
    console.print("  installing postfix for smtp-sink and smtp-source …")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "postfix"], check=True, env=env)


@contextmanager
def smtp_sink() -> Iterator[int]:
    """``smtp-sink`` on a free loopback port (backlog 1024); yields the port."""
    port = free_port()
    command = [SINK, *(["-u", "nobody"] if os.geteuid() == 0 else []), f"127.0.0.1:{port}", "1024"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for(port)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for(port: int) -> None:
    import socket

    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"smtp-sink did not listen on port {port}")


def _smtp_source(folder: Path, count: int) -> float:
    with smtp_sink() as port:
        started = time.perf_counter()
        subprocess.run(
            [SOURCE, "-s", str(SESSIONS), "-l", "10240", "-m", str(count), f"127.0.0.1:{port}"],
            check=True,
            cwd=folder,
            stdout=subprocess.DEVNULL,
        )
        return count / (time.perf_counter() - started)


def _child(context: Context, count: int) -> dict[str, Any]:
    with smtp_sink() as port:
        output = subprocess.run(
            [sys.executable, "-m", "bench.broadcast", context.database_url, str(port), str(count)],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def _bare_rss() -> float:
    code = "from bench.broadcast import peak_rss; print(peak_rss())"
    output = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, cwd=ROOT)
    return float(output.stdout)


def peak_rss() -> float:
    """This process's peak resident set in MB (VmHWM: unlike ru_maxrss, reset by exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(database_url: str, port: int, count: int) -> dict[str, Any]:
    """The child: seed, then walk and send the broadcast timed, then render alone timed."""
    import tempfile

    from engine.clock import utcnow
    from engine.email.compose import MailIdentity
    from engine.email.dkim import generate_key
    from engine.email.templates import Sender, TemplateStore, template_context
    from engine.settings import Settings
    from engine.store.db import Database

    folder = Path(tempfile.mkdtemp(prefix="nurture-bench-dkim-"))
    key = folder / "dkim.pem"
    key.write_bytes(generate_key().private_pem)
    settings = Settings(
        database_url=database_url,
        var_dir=folder,
        secret_key="bench-secret-" + "x" * 40,
        public_url="https://mail.nurture.example.jp",
        postal_address="〒100-0001 東京都千代田区千代田1-1 株式会社ナーチャー",
        dkim_selector="bench",
        dkim_domain="nurture.example.jp",
        dkim_private_key_path=key,
        smtp_connections=SESSIONS,
        _env_file=None,
    )
    database = Database(database_url)
    now = utcnow()
    _seed(database, count, now)
    templates = TemplateStore(ROOT / "templates")
    identity = MailIdentity.from_settings(settings)
    runs = {}
    # Signed first, then unsigned into a message table already holding the first N rows.
    for mode, mode_settings in (
        ("dkim", settings),
        ("plain", settings.model_copy(update={"dkim_private_key_path": None})),
    ):
        runs[mode] = _broadcast(database, mode_settings, port, now, f"bench-{mode}")
    database.dispose()
    template = templates.get(TEMPLATE)
    sender = Sender("seminar@nurture.example.jp", "株式会社ナーチャー")
    render_started = time.perf_counter()
    for i in range(count):
        contact = {"email": f"kokyaku{i}@example.jp", "last_name": f"佐藤{i}", "first_name": "花子"}
        context = template_context(
            contact,
            unsubscribe_url="https://mail.nurture.example.jp/u/x",
            sender=sender,
            postal_address=identity.postal_address,
            locale="ja",
        )
        templates.render(template, context)
    render_seconds = time.perf_counter() - render_started
    shutil.rmtree(folder, ignore_errors=True)
    return {"runs": runs, "render_rate": count / render_seconds, "rss_mb": peak_rss()}


def _broadcast(database: Any, settings: Any, port: int, now: Any, broadcast: str) -> dict[str, Any]:
    """Create and walk one broadcast to the seeded audience, send it; return the figures."""
    from sqlalchemy import func, select

    from engine.broadcasts.service import advance, create_broadcast, send_broadcast
    from engine.broadcasts.spec import parse_broadcast
    from engine.broadcasts.walk import SEND_BROADCAST_EMAIL
    from engine.store.models import OutboxMessage

    source = BROADCAST.replace("id: bench", f"id: {broadcast}")
    spec, _ = parse_broadcast(source, "bench.yaml")
    assert spec is not None
    with database.unit_of_work() as session:
        create_broadcast(session, spec, source=source, now=now)
        send_broadcast(session, spec.id, at=None, now=now)
        before = session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0)))

    started = time.perf_counter()
    advance(database, now=now, message_domain="mail.nurture.example.jp", max_batches=1_000_000)
    walked = time.perf_counter()
    with database.sessions() as session:
        batches = session.scalars(
            select(OutboxMessage.payload)
            .where(OutboxMessage.topic == SEND_BROADCAST_EMAIL, OutboxMessage.id > before)
            .order_by(OutboxMessage.id)
        ).all()
    shares = [[p["message_ids"] for p in batches[i :: senders()]] for i in range(senders())]
    database.dispose()  # each sender opens its own connections
    if len(shares) == 1:
        sent, cpu = _send_share(settings, port, now, shares[0])
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # Forked before any SMTP loop thread exists; each child builds its own pool.
        forking = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(len(shares), mp_context=forking) as executor:
            n = len(shares)
            done = list(executor.map(_send_share, [settings] * n, [port] * n, [now] * n, shares))
            sent, cpu = sum(d[0] for d in done), sum(d[1] for d in done)
    finished = time.perf_counter()
    return {
        "sent": sent,
        "senders": len(shares),
        "walk_seconds": walked - started,
        "send_seconds": finished - walked,
        "sender_cpu_ms": 1000 * cpu / max(sent, 1),
        "send_rate": sent / (finished - started),
    }


def _send_share(settings: Any, port: int, now: Any, batches: list[list[int]]) -> tuple[int, float]:
    """Send these outbox batches as the ``email.send`` actor would; return how many went out
    and the CPU seconds the process spent (all its threads)."""
    from engine.email import pool
    from engine.email.compose import MailIdentity
    from engine.email.send import send_messages
    from engine.email.smtp import SmtpMailer
    from engine.email.templates import TemplateStore
    from engine.store.db import Database

    database = Database(settings.resolved_database_url)
    templates = TemplateStore(ROOT / "templates")
    identity = MailIdentity.from_settings(settings)
    mailer = SmtpMailer.from_settings(
        settings, f"smtp://127.0.0.1:{port}", default_domain="nurture.example.jp"
    )
    keys = settings.signing_keys()
    sent = 0
    cpu = time.process_time()
    for message_ids in batches:
        with database.unit_of_work() as session:
            report = send_messages(
                session,
                message_ids,
                now=now,
                identity=identity,
                signing_keys=keys,
                templates=templates,
                mailer=mailer,
            )
        sent += len(report.sent)
    pool.close_all()
    database.dispose()
    return sent, time.process_time() - cpu


def _seed(database: Any, count: int, now: Any) -> None:
    """N tagged contacts consenting to the topic, inserted in large batches (not timed)."""
    from sqlalchemy import insert, select

    from engine.store.models import Contact, ContactTag, Subscription

    for start in range(0, count, SEED_BATCH):
        rows = [
            {
                "email": f"kokyaku{i:07d}@example.jp",
                "first_name": "花子",
                "last_name": f"佐藤{i}",
                "attributes": {},
                "locale": "ja",
                "lifecycle_stage": "subscriber",
                "score": 0,
                "created_at": now,
                "updated_at": now,
            }
            for i in range(start, min(start + SEED_BATCH, count))
        ]
        with database.unit_of_work() as session:
            session.execute(insert(Contact), rows)
            ids = list(
                session.scalars(
                    select(Contact.id).where(Contact.email.in_([r["email"] for r in rows]))
                )
            )
            session.execute(
                insert(Subscription),
                [
                    {
                        "contact_id": i,
                        "topic": TOPIC,
                        "subscribed": True,
                        "changed_at": now,
                        "source": "bench",
                    }
                    for i in ids
                ],
            )
            session.execute(
                insert(ContactTag),
                [{"contact_id": i, "tag": "bench", "added_at": now} for i in ids],
            )
    # Production's audience tables have autovacuum's statistics; give the fresh ones theirs.
    # The message table gets none: just after a walk, its statistics are always stale.
    if database.dialect == "postgresql":
        from sqlalchemy import text

        with database.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            connection.execute(text("ANALYZE contacts, subscriptions, contact_tags"))


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
