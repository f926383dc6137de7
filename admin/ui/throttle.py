"""Slow down password guessing: few failed sign-ins per address and per client, then wait.

Counts live in the process (a sliding window of failure times), so each ``nurture api``
process throttles on its own; with N processes a guesser gets at most N times the allowance.
"""

from __future__ import annotations

import threading
from collections import defaultdict, deque
from datetime import datetime, timedelta

#: Failed sign-ins allowed per (email, client) and per client within ``WINDOW``.
PER_ACCOUNT = 5
PER_CLIENT = 20
WINDOW = timedelta(minutes=15)


class LoginThrottle:
    """Remember recent failures; ``blocked`` says whether to refuse without checking."""

    def __init__(
        self,
        *,
        per_account: int = PER_ACCOUNT,
        per_client: int = PER_CLIENT,
        window: timedelta = WINDOW,
    ) -> None:
        self._limits = {"account": per_account, "client": per_client}
        self._window = window
        self._failures: dict[tuple[str, str], deque[datetime]] = defaultdict(deque)
        self._lock = threading.Lock()

    def blocked(self, email: str, client: str, *, now: datetime) -> bool:
        """True if this address or this client failed too often within the window."""
        with self._lock:
            return any(
                len(self._recent(key, now)) >= self._limits[key[0]]
                for key in self._keys(email, client)
            )

    def failed(self, email: str, client: str, *, now: datetime) -> None:
        """Note one failed sign-in."""
        with self._lock:
            for key in self._keys(email, client):
                self._recent(key, now).append(now)

    def succeeded(self, email: str, client: str) -> None:
        """Forget the address's failures from this client after a good password."""
        with self._lock:
            self._failures.pop(("account", f"{email.lower()}|{client}"), None)

    def _keys(self, email: str, client: str) -> list[tuple[str, str]]:
        return [("account", f"{email.lower()}|{client}"), ("client", client)]

    def _recent(self, key: tuple[str, str], now: datetime) -> deque[datetime]:
        times = self._failures[key]
        while times and times[0] <= now - self._window:
            times.popleft()
        return times
