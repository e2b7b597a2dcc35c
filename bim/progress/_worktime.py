"""Time measured in days: calendar days, or working days of a schedule's work calendar.

A work calendar (``schedule.calendar``, see ``bim.schedule.types.Calendar.as_json``) counts only
its working days: weekdays plus working exceptions, minus non-working exceptions.  Within a
working day time runs evenly over the 24 hours; a non-working day adds nothing.  Hours of work
within a day are not modelled (docs/progress.md).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
_EPOCH_DAY = date(2000, 1, 3)                     # a Monday
_EPOCH = datetime.combine(_EPOCH_DAY, time(), LOCAL_TZ)
DAY = 86400.0


class WorkTime:
    """``days(t)``: days since a fixed epoch, counting only working days when there is a calendar."""

    def __init__(self, calendar: dict | None = None) -> None:
        self.calendar = calendar
        self.weekdays = frozenset((calendar or {}).get("weekdays") or (1, 2, 3, 4, 5))
        self.exceptions = [(date.fromisoformat(e["from"]), date.fromisoformat(e["to"]),
                            bool(e.get("working"))) for e in (calendar or {}).get("exceptions", [])]
        self._before = lru_cache(maxsize=None)(self._working_days_before)

    def is_working(self, day: date) -> bool:
        for first, last, working in self.exceptions:
            if first <= day <= last:
                return working
        return day.isoweekday() in self.weekdays

    def _working_days_before(self, day: date) -> int:
        """Working days in [epoch, day) (negative before the epoch)."""
        n = (day - _EPOCH_DAY).days
        sign, lo, hi = (1, _EPOCH_DAY, day) if n >= 0 else (-1, day, _EPOCH_DAY)
        span = abs(n)
        weeks, rest = divmod(span, 7)
        count = weeks * len(self.weekdays)
        for i in range(rest):
            if (lo + timedelta(days=weeks * 7 + i)).isoweekday() in self.weekdays:
                count += 1
        seen: set[date] = set()
        for first, last, _ in self.exceptions:     # correct the days exceptions change
            d = max(first, lo)
            while d <= last and d < hi:
                if d not in seen:
                    seen.add(d)
                    count += int(self.is_working(d)) - int(d.isoweekday() in self.weekdays)
                d += timedelta(days=1)
        return sign * count

    def days(self, t: datetime) -> float:
        if self.calendar is None:
            return (t - _EPOCH).total_seconds() / DAY
        local = t.astimezone(LOCAL_TZ)
        day = local.date()
        whole = self._before(day)
        if not self.is_working(day):
            return float(whole)
        midnight = datetime.combine(day, time(), LOCAL_TZ)
        return whole + (local - midnight).total_seconds() / DAY
