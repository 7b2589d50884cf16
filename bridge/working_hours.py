"""When 1C is expected to post heartbeats: ``BRIDGE_WORKING_HOURS``, e.g. ``mon-fri 09:00-18:00 Europe/Moscow``.

One setting drives both the Prometheus alert ``BridgeOnecSilent`` (through the gauge
``bridge_onec_working_hours``, which the relay sets from it) and the silence notice in Bitrix24, so the
two never disagree and the hours are written in the company's own time zone, not in Prometheus' UTC.
A file-mode base or a server switched off at night falls silent every evening; that is not an incident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WORKING_HOURS = "mon-fri 09:00-18:00 Europe/Moscow"
_SPAN = re.compile(r"(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})")
_OFFSET = re.compile(r"(?:UTC)?([+-])(\d{1,2})(?::(\d{2}))?")


@dataclass(frozen=True)
class WorkingHours:
    days: frozenset[int]  # 0 = Monday
    start: time
    end: time
    zone: tzinfo
    text: str

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """``always``, or ``<days> HH:MM-HH:MM [zone]``: days ``mon-fri`` or ``mon,wed,sat``; zone an IANA
        name (``Europe/Moscow``) or an offset (``+03:00``), UTC when left out.  Raises ValueError."""
        if text.strip().lower() in ("always", "24/7"):
            return cls(frozenset(range(7)), time(0), time(0), UTC, "always")
        tokens = text.split()
        match = _SPAN.fullmatch(tokens[1]) if len(tokens) in (2, 3) else None
        if not match:
            raise ValueError(f"working hours {text!r}: expected e.g. 'mon-fri 09:00-18:00 Europe/Moscow' or 'always'")
        days: set[int] = set()
        for part in tokens[0].lower().split(","):
            first, _, last = part.partition("-")
            if first not in DAYS or (last and last not in DAYS):
                raise ValueError(f"working hours {text!r}: days are {', '.join(DAYS)} (e.g. mon-fri or sat,sun)")
            a, b = DAYS.index(first), DAYS.index(last or first)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(b + 1)])
        try:
            start, end = (time.fromisoformat(f"{int(t[:-3]):02d}{t[-3:]}") for t in (match["start"], match["end"]))
        except ValueError:
            raise ValueError(f"working hours {text!r}: times are HH:MM, 00:00-23:59") from None
        if start == end:
            raise ValueError(f"working hours {text!r}: start and end are equal; write 'always' for all day")
        return cls(frozenset(days), start, end, _zone(tokens[2] if len(tokens) == 3 else None, text), text.strip())

    def open_at(self, moment: datetime) -> bool:
        """True when ``moment`` (aware) falls within working hours; a span past midnight belongs to the day
        it starts on."""
        if self.text == "always":
            return True
        local = moment.astimezone(self.zone)
        if self.start < self.end:
            return local.weekday() in self.days and self.start <= local.time() < self.end
        if local.time() >= self.start:
            return local.weekday() in self.days
        return local.time() < self.end and (local - timedelta(days=1)).weekday() in self.days


def _zone(name: str | None, text: str) -> tzinfo:
    if not name:
        return UTC
    if offset := _OFFSET.fullmatch(name):
        sign = 1 if offset[1] == "+" else -1
        return timezone(sign * timedelta(hours=int(offset[2]), minutes=int(offset[3] or 0)))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"working hours {text!r}: unknown time zone {name!r}; use an IANA name "
                         "(Europe/Moscow) or an offset (+03:00)") from None
