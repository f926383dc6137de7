"""Who opened or clicked: a person, a machine fetching images, or a security scanner.

Counting proxies and scanners as people inflates opens and clicks and sends journeys down
the wrong branch. The signals, each giving its reason:

- Apple Mail Privacy Protection fetches every image when mail reaches the device, from
  Apple's network (17.0.0.0/8) with a bare ``Mozilla/5.0`` user agent: a machine open.
  Gmail's and Yahoo's image proxies fetch when the person opens the mail, so they count.
- An open within seconds of delivery is a prefetch, not a reader.
- A security gateway follows links as the mail arrives: a click within seconds of
  delivery, several links of one message within a second or two, the hidden decoy link no
  person can see, or a scanner's own user agent.

Pure functions of the hits and the message's delivery time; no I/O.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Classification = Literal["human", "machine", "scanner"]

#: Opens this soon after delivery are prefetches.
PREFETCH_WINDOW = timedelta(seconds=2)
#: Clicks this soon after delivery are a gateway checking links.
SCANNER_WINDOW = timedelta(seconds=10)
#: This many different links of one message clicked within ``BURST_WINDOW`` is a scanner.
BURST_LINKS = 3
BURST_WINDOW = timedelta(seconds=2)
#: The decoy link's position (see ``engine.email.links``).
DECOY = 0

_APPLE = ipaddress.IPv4Network("17.0.0.0/8")
_APPLE_PROXY_UA = "Mozilla/5.0"
_MACHINE_UA = re.compile(
    r"bot\b|crawler|spider|curl/|wget/|python-requests|python-urllib|go-http-client|"
    r"java/|okhttp|headlesschrome|phantomjs|preview",
    re.IGNORECASE,
)
_SCANNER_UA = re.compile(
    r"barracuda|mimecast|proofpoint|ppops|forcepoint|symantec|messagelabs|trendmicro|"
    r"sophos|fortinet|fortiguard|ironport|cisco|zscaler|safelinks|microsoft office protection|"
    r"bitdefender|kaspersky|checkpoint|avanan|abnormal|ms-office-scan|"
    r"googlebot|bingpreview|slackbot|skypeuripreview|linkchecker",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A hit's class and why."""

    classification: Classification
    reason: str


@dataclass(frozen=True, slots=True)
class Click:
    """A click on link ``position`` of a message at ``at``."""

    at: datetime
    position: int
    ip: str | None
    user_agent: str | None


def classify_open(
    at: datetime, delivered_at: datetime | None, ip: str | None, user_agent: str | None
) -> Verdict:
    """Classify one open-pixel fetch."""
    ua = (user_agent or "").strip()
    if ua == _APPLE_PROXY_UA or _in(ip, _APPLE):
        return Verdict("machine", "Apple Mail Privacy Protection prefetch")
    agent = _agent(ua)
    if agent == "scanner":
        return Verdict("machine", "security gateway fetched the image")
    if agent == "machine":
        return Verdict("machine", "automated client fetched the image")
    if delivered_at is not None and at - delivered_at < PREFETCH_WINDOW:
        seconds = max(0.0, (at - delivered_at).total_seconds())
        return Verdict("machine", f"fetched {seconds:.1f}s after delivery (prefetch)")
    return Verdict("human", "opened")


def classify_clicks(
    clicks: Sequence[Click], delivered_at: datetime | None, earlier: Sequence[Click] = ()
) -> list[Verdict]:
    """Classify the new ``clicks`` on one message, given its ``earlier`` clicks.

    The verdicts are in the order of ``clicks``.
    """
    bursts = Bursts([*earlier, *clicks])
    verdicts = []
    for click in clicks:
        ua = click.user_agent or ""
        if click.position == DECOY:
            verdicts.append(Verdict("scanner", "followed the hidden decoy link"))
        elif _agent(ua) == "scanner":
            verdicts.append(Verdict("scanner", "security scanner user agent"))
        elif _agent(ua) == "machine":
            verdicts.append(Verdict("scanner", "automated client user agent"))
        elif delivered_at is not None and click.at - delivered_at < SCANNER_WINDOW:
            seconds = max(0.0, (click.at - delivered_at).total_seconds())
            verdicts.append(Verdict("scanner", f"clicked {seconds:.1f}s after delivery"))
        elif (burst := bursts.size(click.at)) >= BURST_LINKS:
            verdicts.append(Verdict("scanner", f"{burst} links clicked within 2s"))
        else:
            verdicts.append(Verdict("human", "clicked"))
    return verdicts


class Bursts:
    """The click times of one message's links, to count the links clicked around a moment.

    Indexed per link, so classifying n clicks on a message with p links costs
    O(n·p·log n), not O(n²): a flood of clicks on one link cannot stall the consumer.
    """

    def __init__(self, clicks: Sequence[Click]) -> None:
        times: dict[int, list[datetime]] = {}
        for click in clicks:
            times.setdefault(click.position, []).append(click.at)
        self._times = [sorted(t) for t in times.values()]

    def size(self, at: datetime) -> int:
        """Return how many different links were clicked within ``BURST_WINDOW`` around ``at``."""
        low, high = at - BURST_WINDOW, at + BURST_WINDOW
        return sum(
            1 for t in self._times if bisect.bisect_right(t, high) > bisect.bisect_left(t, low)
        )


def burst_size(clicks: Sequence[Click], at: datetime) -> int:
    """Return how many different links were clicked within ``BURST_WINDOW`` around ``at``."""
    return Bursts(clicks).size(at)


@functools.lru_cache(maxsize=4096)
def _agent(user_agent: str) -> Literal["scanner", "machine", "browser"]:
    # Cached: a batch repeats a handful of user agents thousands of times.
    if _SCANNER_UA.search(user_agent):
        return "scanner"
    if _MACHINE_UA.search(user_agent):
        return "machine"
    return "browser"


@functools.lru_cache(maxsize=4096)
def _in(ip: str | None, network: ipaddress.IPv4Network) -> bool:
    # Cached: parsing the address was a tenth of an ingest batch, and addresses repeat.
    if not ip:
        return False
    try:
        return ipaddress.ip_address(ip) in network
    except ValueError:
        return False
