"""Rate limits and domain pauses: the bucket arithmetic, in memory, and shared through Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from engine.email.ratelimit import (
    KEY_PREFIX,
    LocalLimiter,
    Rates,
    RedisLimiter,
    refill,
    take,
)
from engine.errors import ConfigurationError

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.mark.parametrize(
    ("tokens", "stamp", "now", "rate", "expected"),
    [
        (0.0, 0.0, 0.5, 2.0, 1.0),
        (0.0, 0.0, 10.0, 2.0, 2.0),  # burst: one second's worth
        (0.0, 0.0, 10.0, 0.5, 1.0),  # at least one token
        (1.5, 5.0, 4.0, 2.0, 1.5),  # a clock behind the stamp adds nothing
    ],
)
def test_a_bucket_refills_at_its_rate_up_to_its_burst(tokens, stamp, now, rate, expected) -> None:
    assert refill(tokens, stamp, now, rate) == pytest.approx(expected)


def test_a_token_is_taken_from_every_bucket_or_from_none() -> None:
    assert take([(2.0, 10.0), (1.0, 1.0)]) == ([1.0, 0.0], 0.0)
    levels, wait = take([(2.0, 10.0), (0.5, 2.0)])
    assert levels == [2.0, 0.5] and wait == pytest.approx(0.25)


def test_domain_rates_are_read_and_bad_entries_named() -> None:
    rates = Rates.parse(50, "gmail.com=20, yahoo.co.jp=10,,例え.jp=2.5")
    assert rates.domains == {"gmail.com": 20.0, "yahoo.co.jp": 10.0, "例え.jp": 2.5}
    assert rates.buckets("gmail.com") == [("*", 50), ("gmail.com", 20.0)]
    assert rates.buckets("example.jp") == [("*", 50)]
    with pytest.raises(ConfigurationError) as error:
        Rates.parse(0, "gmail.com=20,yahoo.co.jp")
    assert error.value.message.startswith("NURTURE_SMTP_DOMAIN_RATES: entry 2 'yahoo.co.jp'")


def test_in_memory_limits_and_pauses() -> None:
    limiter = LocalLimiter(Rates(0, {"example.jp": 2}))
    assert [limiter.admit("example.jp").granted for _ in range(3)] == [True, True, False]
    assert 0 < limiter.admit("example.jp").wait <= 0.5
    assert limiter.admit("example.com").granted  # no limit there
    limiter.pause("example.com", 60)
    assert limiter.admit("example.com").paused_for == pytest.approx(60, abs=1)


@pytest.fixture
def shared() -> Iterator[tuple[RedisLimiter, RedisLimiter, str]]:
    client: redis.Redis[bytes] = redis.Redis.from_url(REDIS_URL)
    domain = f"{secrets.token_hex(4)}.example.jp"
    rates = Rates(0, {domain: 3})
    # Two limiters on two connections: two worker processes sharing the buckets.
    yield RedisLimiter(rates, client), RedisLimiter.from_url(rates, REDIS_URL), domain
    client.delete(f"{KEY_PREFIX}rate:{domain}", f"{KEY_PREFIX}pause:{domain}")


def test_redis_buckets_are_shared_between_processes(shared) -> None:
    one, two, domain = shared
    granted = [limiter.admit(domain).granted for limiter in (one, two, one, two)]
    assert granted == [True, True, True, False]
    assert 0 < two.admit(domain).wait <= 0.34


def test_a_redis_pause_stops_every_process_and_a_shorter_one_does_not_shorten_it(shared) -> None:
    one, two, domain = shared
    one.pause(domain, 60)
    two.pause(domain, 1)
    admission = two.admit(domain)
    assert not admission.granted and admission.paused_for == pytest.approx(60, abs=1)


def test_an_unreachable_redis_holds_mail_back_rather_than_exceeding_the_limits() -> None:
    limiter = RedisLimiter.from_url(Rates(10), "redis://127.0.0.1:9/0")
    admission = limiter.admit("example.jp")
    assert not admission.granted and admission.wait == float("inf")
    limiter.pause("example.jp", 60)  # logged, not raised
