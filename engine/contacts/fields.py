"""Normalisers shared by every way a contact comes in (API, CSV, events): one rule each."""

from __future__ import annotations

import re
import zoneinfo
from functools import cache, lru_cache

from email_validator import EmailNotValidError, validate_email

_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")


@lru_cache(maxsize=65_536)  # the same few addresses recur throughout an event batch
def normalize_email(raw: str) -> str:
    """Return the address in the one form we store (trimmed, lower case, IDN domain as Unicode).

    Raises ValueError with a message fit for the user when the address is not valid.
    """
    candidate = raw.strip()
    if not candidate:
        raise ValueError("email is empty")
    try:
        checked = validate_email(candidate, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValueError(f"{candidate!r} is not a valid email address: {error}") from None
    return checked.normalized.lower()


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> str:
    """Return ``name`` if it is an IANA time zone (``Asia/Tokyo``); raise ValueError if not."""
    if name not in _timezones():
        raise ValueError(f"{name!r} is not an IANA time zone (for example Asia/Tokyo)")
    return name


def check_locale(tag: str) -> str:
    """Return a BCP 47 language tag with ``-`` separators (``ja``, ``en-US``)."""
    if not _LOCALE.match(tag):
        raise ValueError(f"{tag!r} is not a language tag (for example ja or en-US)")
    return tag.replace("_", "-")


#: Han, kana and hangul: a name written in them is written family name first.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def display_name(first_name: str | None, last_name: str | None, locale: str | None) -> str:
    """Name as the contact's language writes it: family name first in Japanese, Chinese, Korean.

    A name written in CJK script (山田 太郎) is written that way whatever the locale.
    """
    parts = [p for p in (first_name, last_name) if p]
    cjk_locale = locale is not None and locale.split("-")[0].lower() in {"ja", "zh", "ko"}
    if cjk_locale or any(_CJK.search(p) for p in parts):
        parts.reverse()
    return " ".join(parts)
