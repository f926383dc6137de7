"""How fast mail may leave: an overall rate, per-recipient-domain rates, and domain pauses.

Token buckets, one second's worth of burst each. With Redis configured the buckets and pauses
live there (one Lua script takes from every bucket a message needs, atomically), so every
worker process shares them; without Redis (embedded mode, one process) they live in memory.
A domain is paused after a policy refusal (5.7.x): nothing goes to it until the pause ends.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import NamedTuple, Protocol

import redis

from engine.errors import ConfigurationError

log = logging.getLogger(__name__)

#: Prefix of the Redis keys of buckets (``…:rate:DOMAIN``) and pauses (``…:pause:DOMAIN``).
KEY_PREFIX = "nurture:smtp:"
#: The bucket of the overall rate.
OVERALL = "*"


class Admission(NamedTuple):
    """May a message go now: ``wait`` seconds until a token is free (0 = taken), or paused."""

    wait: float
    paused_for: float = 0.0

    @property
    def granted(self) -> bool:
        """True when the tokens were taken and the message may go now."""
        return self.wait == 0 and self.paused_for == 0


@dataclass(frozen=True, slots=True)
class Rates:
    """Messages per second overall (0 = no limit) and per recipient domain."""

    overall: float = 0.0
    domains: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, overall: float, domains: str) -> Rates:
        """Read ``gmail.com=20,yahoo.co.jp=10`` (messages per second per domain).

        Raises ConfigurationError naming NURTURE_SMTP_DOMAIN_RATES and the bad entry.
        """
        if overall < 0:
            raise ConfigurationError("NURTURE_SMTP_RATE: must be 0 (no limit) or more")
        found: dict[str, float] = {}
        for position, entry in enumerate(domains.split(","), start=1):
            if not entry.strip():
                continue
            domain, sep, value = entry.partition("=")
            try:
                rate = float(value) if sep else math.nan
            except ValueError:
                rate = math.nan
            if not domain.strip() or not rate > 0:
                raise ConfigurationError(
                    f"NURTURE_SMTP_DOMAIN_RATES: entry {position} {entry.strip()!r} is not "
                    "DOMAIN=MESSAGES_PER_SECOND (e.g. gmail.com=20)"
                )
            found[domain.strip().lower()] = rate
        return cls(overall, found)

    def buckets(self, domain: str) -> list[tuple[str, float]]:
        """The (bucket, rate) pairs a message to ``domain`` takes a token from."""
        pairs = [(OVERALL, self.overall)] if self.overall > 0 else []
        rate = self.domains.get(domain)
        if rate:
            pairs.append((domain, rate))
        return pairs


def refill(tokens: float, stamp: float, now: float, rate: float) -> float:
    """Tokens in a bucket of ``rate``/s (burst: one second's worth, at least 1) at ``now``."""
    return min(max(rate, 1.0), tokens + max(0.0, now - stamp) * rate)


def take(levels: list[tuple[float, float]]) -> tuple[list[float], float]:
    """Take one token from every (tokens, rate) bucket, or none; return levels and wait (s).

    All or nothing, so a message held back by its domain does not spend the overall rate.
    """
    short = [(1.0 - tokens) / rate for tokens, rate in levels if tokens < 1.0]
    if short:
        return [tokens for tokens, _ in levels], max(short)
    return [tokens - 1.0 for tokens, _ in levels], 0.0


class Limiter(Protocol):
    """What the SMTP pool asks before each message, and tells after a policy refusal."""

    def admit(self, domain: str) -> Admission:
        """Take the tokens for one message to ``domain``, or say how long to wait."""
        ...

    def pause(self, domain: str, seconds: float) -> None:
        """Send nothing to ``domain`` for ``seconds``."""
        ...


class LocalLimiter:
    """Buckets and pauses in this process's memory (embedded mode, tests)."""

    def __init__(self, rates: Rates) -> None:
        self.rates = rates
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}
        self._paused_until: dict[str, float] = {}

    def admit(self, domain: str) -> Admission:
        """Take the tokens for one message to ``domain``, or say how long to wait."""
        with self._lock:
            now = time.monotonic()
            paused = self._paused_until.get(domain, 0.0) - now
            if paused > 0:
                return Admission(0.0, paused)
            pairs = self.rates.buckets(domain)
            levels = [
                (refill(*self._buckets.get(name, (max(rate, 1.0), now)), now, rate), rate)
                for name, rate in pairs
            ]
            after, wait = take(levels)
            for (name, _), tokens in zip(pairs, after, strict=True):
                self._buckets[name] = (tokens, now)
            return Admission(wait)

    def pause(self, domain: str, seconds: float) -> None:
        """Send nothing to ``domain`` for ``seconds``."""
        with self._lock:
            until = time.monotonic() + seconds
            self._paused_until[domain] = max(until, self._paused_until.get(domain, 0.0))


# KEYS[1] the pause key, KEYS[2..] buckets; ARGV the buckets' rates. Redis's clock, so
# processes on machines with skewed clocks agree. Returns {wait_ms, paused_ms}.
_ADMIT = """
local paused = redis.call('PTTL', KEYS[1])
if paused > 0 then return {0, paused} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local levels = {}
local wait = 0
for i = 2, #KEYS do
  local rate = tonumber(ARGV[i - 1])
  local burst = math.max(rate, 1)
  local b = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(b[1]) or burst
  local ts = tonumber(b[2]) or now
  tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
  levels[i] = tokens
  if tokens < 1 then wait = math.max(wait, math.ceil((1 - tokens) * 1000 / rate)) end
end
for i = 2, #KEYS do
  local rate = tonumber(ARGV[i - 1])
  local tokens = levels[i]
  if wait == 0 then tokens = tokens - 1 end
  redis.call('HSET', KEYS[i], 'tokens', tostring(tokens), 'ts', now)
  redis.call('PEXPIRE', KEYS[i], math.ceil(math.max(rate, 1) * 1000 / rate) + 1000)
end
return {wait, 0}
"""


class RedisLimiter:
    """Buckets and pauses in Redis, shared by every worker process."""

    def __init__(self, rates: Rates, client: redis.Redis[bytes]) -> None:
        self.rates = rates
        self._client = client
        self._admit = client.register_script(_ADMIT)

    @classmethod
    def from_url(cls, rates: Rates, url: str) -> RedisLimiter:
        """Connect to the Redis at ``url``."""
        return cls(rates, redis.Redis.from_url(url))

    def admit(self, domain: str) -> Admission:
        """Take the tokens for one message to ``domain``, or say how long to wait."""
        pairs = self.rates.buckets(domain)
        keys = [f"{KEY_PREFIX}pause:{domain}", *(f"{KEY_PREFIX}rate:{n}" for n, _ in pairs)]
        try:
            wait_ms, paused_ms = self._admit(keys=keys, args=[rate for _, rate in pairs])
        except redis.RedisError as error:  # hold the mail rather than exceed the limits
            log.warning("rate limiter unavailable, holding mail to %s: %s", domain, error)
            return Admission(math.inf)
        return Admission(int(wait_ms) / 1000, int(paused_ms) / 1000)

    def pause(self, domain: str, seconds: float) -> None:
        """Send nothing to ``domain`` for ``seconds`` (a longer pause already set stays)."""
        key = f"{KEY_PREFIX}pause:{domain}"
        ms = max(1, int(seconds * 1000))
        try:
            if not self._client.set(key, "1", px=ms, nx=True):
                remaining = int(self._client.pttl(key))
                if remaining < ms:
                    self._client.set(key, "1", px=ms)
        except redis.RedisError as error:
            log.error("cannot pause sending to %s: %s", domain, error)


@cache
def limiter_for(overall: float, domains: str, redis_url: str) -> Limiter:
    """The process's limiter: in Redis when ``redis_url`` is set, else in memory.

    Raises ConfigurationError naming the setting when a rate is malformed.
    """
    rates = Rates.parse(overall, domains)
    return RedisLimiter.from_url(rates, redis_url) if redis_url else LocalLimiter(rates)
