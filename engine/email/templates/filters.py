"""Locale-aware ``date`` and ``money`` filters: 2026年11月29日 and ¥12,345 in Japanese, as in English.

Only the languages the shipped templates speak are spelled out (``ja``, ``en``); any other
locale reads as English. Bad values raise ValueError naming the value, which the renderer
turns into an error at the template's line.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_JA = "月火水木金土日"
#: Currencies with no minor unit in everyday use.
_NO_DECIMALS = frozenset({"JPY", "KRW", "VND", "CLP", "ISK"})
_SYMBOLS = {"JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "CNY": "CN¥", "KRW": "₩"}
DATE_STYLES = ("long", "short", "full")


def language(locale: str | None) -> str:
    """Return ``ja`` for any Japanese tag (``ja``, ``ja-JP``), else ``en``."""
    return "ja" if locale and locale.replace("_", "-").split("-")[0].lower() == "ja" else "en"


def format_date(
    value: Any, style: str = "long", *, locale: str | None, timezone: str | None = None
) -> str:
    """Write a date the reader's way: ``2026年11月29日`` / ``November 29, 2026``.

    ``value`` is a date, a datetime (shown in ``timezone``) or an ISO 8601 string;
    ``style`` is ``long``, ``short`` (2026/11/29, Nov 29, 2026), ``full`` (with the
    weekday) or a ``strftime`` pattern. Raises ValueError for anything else.
    """
    day = _as_date(value, timezone)
    if "%" in style:
        return day.strftime(style)
    if style not in DATE_STYLES:
        raise ValueError(f"date style {style!r} is not one of {', '.join(DATE_STYLES)}")
    if language(locale) == "ja":
        if style == "short":
            return f"{day.year}/{day.month:02d}/{day.day:02d}"
        text = f"{day.year}年{day.month}月{day.day}日"
        return f"{text}({_WEEKDAYS_JA[day.weekday()]})" if style == "full" else text
    month = _MONTHS[day.month - 1]
    if style == "short":
        return f"{month[:3]} {day.day}, {day.year}"
    text = f"{month} {day.day}, {day.year}"
    return f"{_WEEKDAYS_EN[day.weekday()]}, {text}" if style == "full" else text


def format_money(value: Any, currency: str | None = None, *, locale: str | None) -> str:
    """Write an amount with its currency: ``¥12,345``, ``$12,345.00``, ``CHF 1,200.00``.

    The currency defaults to the reader's (JPY in Japanese, USD otherwise); yen and other
    currencies without a minor unit are rounded half up to whole units. Raises ValueError
    for a value that is not a number or a currency that is not three letters.
    """
    code = (currency or ("JPY" if language(locale) == "ja" else "USD")).upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"currency {currency!r} is not an ISO 4217 code such as JPY or USD")
    amount = _as_decimal(value)
    places = 0 if code in _NO_DECIMALS else 2
    rounded = amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    digits = f"{abs(rounded):,.{places}f}"
    symbol = _SYMBOLS.get(code)
    text = f"{symbol}{digits}" if symbol else f"{code} {digits}"
    return f"-{text}" if rounded < 0 else text


def _as_date(value: Any, timezone: str | None) -> date:
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (
                datetime.fromisoformat(text)
                if "T" in text or " " in text
                else date.fromisoformat(text)
            )
        except ValueError:
            raise ValueError(f"cannot read {value!r} as a date (use 2026-11-29)") from None
    if isinstance(value, datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        day: date = moment.astimezone(_zone(timezone)).date()
        return day
    if isinstance(value, date):
        return value
    raise ValueError(f"cannot read {value!r} as a date (use 2026-11-29)")


def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _as_decimal(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"cannot read {value!r} as an amount")
    try:
        amount = Decimal(str(value).replace(",", "")) if isinstance(value, str) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"cannot read {value!r} as an amount") from None
    if not amount.is_finite():
        raise ValueError(f"cannot read {value!r} as an amount")
    return amount
