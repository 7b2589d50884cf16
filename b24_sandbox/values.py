"""Value conversions shared by all methods: PHP-ish coercion of input, Bitrix24's string output, dates."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")


def intval(value: Any, default: int = 0) -> int:
    """PHP ``intval``: leading digits of a string, 0 for anything unparsable; bools as 0/1."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, str):
        match = _LEADING_INT.match(value)
        return int(match.group(1)) if match else default
    return default


def is_positive_id(value: Any) -> bool:
    return not isinstance(value, (dict, list)) and value is not None and intval(value) > 0


def php_round(value: Decimal, places: int) -> Decimal:
    """PHP's ``round`` (half away from zero), as MySQL also rounds a value into a DECIMAL column."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        return Decimal(int(value))
    try:
        return Decimal(str(value).strip().replace(",", ".") or "0")
    except InvalidOperation:
        return Decimal(0)


def text(value: Any) -> str:
    """PHP string conversion: ``true`` → "1", ``false``/None → "", numbers as written."""
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flag(value: Any) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    return "Y" if str(value).strip().upper() in ("Y", "1", "TRUE") else "N"


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "n", "false", "no")
    return bool(value)


def php_bool(value: Any) -> bool:
    """PHP's ``(bool)`` cast: only ``""`` and ``"0"`` are false among strings (so ``"false"`` is true)."""
    if isinstance(value, str):
        return value not in ("", "0")
    if isinstance(value, (list, dict)):
        return bool(value)
    return bool(value)


def money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def iso_at(ts: float, tz: timezone) -> str:
    """A unix time as the portal writes datetimes: ``2024-05-01T12:00:00+03:00``."""
    return datetime.fromtimestamp(ts, tz).replace(microsecond=0).isoformat()


def day_at(ts: float, tz: timezone) -> date:
    return datetime.fromtimestamp(ts, tz).date()


def parse_date(value: Any) -> str | None:
    """Accept ``YYYY-MM-DD``, an ISO datetime or ``DD.MM.YYYY``; store ``YYYY-MM-DD`` (None if unparsable)."""
    raw = text(value).strip()
    if not raw:
        return None
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return datetime.strptime(raw[:10], fmt).date().isoformat()
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(raw).date().isoformat()
    except ValueError:
        return None


def parse_datetime(value: Any, tz: timezone) -> str | None:
    raw = text(value).strip()
    if not raw:
        return None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        day = parse_date(raw)
        if day is None:
            return None
        parsed = datetime.fromisoformat(day)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed.astimezone(tz).replace(microsecond=0).isoformat()


def date_as_datetime(day: str | None, tz: timezone) -> str:
    """Legacy crm.* answer date fields as midnight in the portal's zone; unset dates as ``""``."""
    if not day:
        return ""
    return datetime.fromisoformat(day).replace(tzinfo=tz).isoformat()


def number(value: Any) -> int | float:
    """A JSON number the way PHP prints a float: integral values without a fraction."""
    as_float = float(value)
    return int(as_float) if as_float.is_integer() else as_float
