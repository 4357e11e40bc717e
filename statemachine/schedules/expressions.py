"""Schedules, expressions: EventBridge Scheduler's ``cron(...)``, ``rate(...)`` and ``at(...)``.

In: a ScheduleExpression text and a ScheduleExpressionTimezone (an IANA name). Out: a frozen
``Cron``/``Rate``/``At`` whose ``next_fire(after, start=, end=)`` gives the next instant (an
aware UTC datetime) it fires at; ``InvalidScheduleExpression`` (AWS's ValidationException
"Invalid Schedule Expression <text>.") for anything EventBridge Scheduler refuses.

The grammar is EventBridge's (docs: "Schedule types on EventBridge Scheduler" and "Cron
expressions reference"): six fields ``minutes hours day-of-month month day-of-week year``:

    Minutes       0-59                 , - * /
    Hours         0-23                 , - * /
    Day-of-month  1-31                 , - * ? / L W
    Month         1-12 or JAN-DEC      , - * /
    Day-of-week   1-7 or SUN-SAT       , - * ? L #      (1 = SUN, as in Quartz)
    Year          1970-2199            , - * /

Exactly one of day-of-month and day-of-week is ``?``. ``L`` is the last day of the month
(day-of-month) or of the week (day-of-week: Saturday; ``6L`` is the month's last Friday);
``15W`` the weekday nearest the 15th within the month (a single day only); ``6#3`` the
month's third Friday (alone in its field). ``rate(value unit)``: a positive integer and
minute(s), hour(s) or day(s), as fixed durations (a day is 24 hours, also across a DST
change). ``at(yyyy-mm-ddThh:mm:ss)``: one instant, read in the schedule's time zone.

Time zones (AWS: "EventBridge Scheduler automatically adjusts your schedule for daylight
saving time"): a cron expression names wall-clock times in its zone. A time the clocks skip
(Europe/Berlin 02:30 on the last Sunday of March) does not fire that day; a time they pass
twice (02:30 on the last Sunday of October) fires once, at its first occurrence. An ``at``
time that does not exist is read with the offset before the change (PEP 495, fold=0).

Cron arithmetic: croniter (the ``schedules`` extra), imported when a cron expression is first
evaluated. It walks naive local wall-clock times; this module maps EventBridge's fields onto
it (day-of-week numbers 1-7 -> 0-6, ``nL`` -> ``L(n-1)``, ``?`` -> ``*``) and adds what it
lacks: the year field, and a ``W`` day past the month's end (``31W`` in April) firing not at
all instead of on the month's last weekday. ``LW`` (Quartz's last weekday) is refused: AWS
documents no such form.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from statemachine.errors import StateMachineError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["At", "Cron", "Expression", "InvalidScheduleExpression", "InvalidTimezone",
           "Rate", "parse", "zone"]


class InvalidScheduleExpression(StateMachineError):
    """A ScheduleExpression EventBridge Scheduler refuses (its ValidationException); the
    message is AWS's ``Invalid Schedule Expression <text>.``, ``reason`` says why."""

    code = "ValidationException"

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"Invalid Schedule Expression {text}.")
        self.text = text
        self.reason = reason


class InvalidTimezone(StateMachineError):
    """A ScheduleExpressionTimezone that is not an IANA time zone name."""

    code = "ValidationException"


#: Files of a zone database that are no IANA zone name: the host's own zone (and its rules).
_HOST_FILES: Final = frozenset({"localtime", "posixrules"})


def zone(name: str) -> ZoneInfo:
    """The ZoneInfo of an IANA name ("Europe/Berlin", "UTC"). Raises InvalidTimezone."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name or name in _HOST_FILES:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezone(f"Invalid ScheduleExpressionTimezone '{name}': not an IANA "
                              "time zone name (e.g. Europe/Berlin, America/New_York, UTC)."
                              ) from None


# -- the three forms ------------------------------------------------------------------------

_MAX_YEAR: Final = 2199


@dataclasses.dataclass(frozen=True, slots=True)
class Rate:
    """``rate(value unit)``: every ``every`` from an anchor (StartDate, else creation or the last update)."""

    text: str
    every: timedelta

    def next_fire(self, after: datetime, *, anchor: datetime, start: datetime | None = None,
                  end: datetime | None = None) -> datetime | None:
        """The first ``anchor + k * every`` (k >= 0) strictly after ``after``, at or after
        ``start`` and before ``end``; None when none is left."""
        floor = max(after, start - timedelta(microseconds=1)) if start is not None else after
        if floor < anchor:
            found = anchor
        else:
            found = anchor + ((floor - anchor) // self.every + 1) * self.every
        return found if end is None or found < end else None


@dataclasses.dataclass(frozen=True, slots=True)
class At:
    """``at(yyyy-mm-ddThh:mm:ss)``: once, at ``local`` in the schedule's zone."""

    text: str
    local: datetime  # naive wall-clock time

    def instant(self, tz: ZoneInfo) -> datetime:
        """The UTC instant of the wall-clock time in ``tz`` (fold=0 for gaps and repeats)."""
        return self.local.replace(tzinfo=tz).astimezone(UTC)

    def next_fire(self, after: datetime, *, tz: ZoneInfo) -> datetime | None:
        """The instant when it is after ``after``, else None (StartDate/EndDate do not apply
        to one-time schedules, as on AWS)."""
        moment = self.instant(tz)
        return moment if moment > after else None


@dataclasses.dataclass(frozen=True, slots=True)
class Cron:
    """``cron(min hour dom month dow year)``; ``croniter`` is the five-field translation."""

    text: str
    croniter: str
    years: frozenset[int] | None  # None: every year
    w_day: int | None  # the N of an "NW" day-of-month (it fires only in months that have N)

    def next_fire(self, after: datetime, *, tz: ZoneInfo, start: datetime | None = None,
                  end: datetime | None = None) -> datetime | None:
        """The first fire instant (UTC) strictly after ``after`` (and at or after ``start``,
        before ``end``); None when there is none before ``end`` or year 2199 is over."""
        if start is not None and start > after:
            after = start - timedelta(microseconds=1)
        cursor = after.astimezone(tz).replace(tzinfo=None)
        for _ in range(100_000):
            local = self._next_local(cursor)
            if local is None:
                return None
            moment = _existing(local, tz)
            if end is not None and moment is not None and moment >= end:
                return None
            if moment is not None and moment > after:
                return moment
            cursor = local  # skipped by the clocks, or the first pass of a repeated hour
        return None  # pragma: no cover - 100,000 skipped candidates

    def _next_local(self, cursor: datetime) -> datetime | None:
        """The next naive wall-clock match after ``cursor`` (croniter plus the year and W
        rules), or None."""
        try:
            from croniter import CroniterBadDateError
        except ImportError:
            raise ModuleNotFoundError(
                "cron schedules need croniter: pip install 'statemachine-asl[schedules]'",
                name="croniter") from None

        for _ in range(10_000):
            try:
                found: datetime = _iterator(self.croniter, cursor).get_next(datetime)
            except CroniterBadDateError:  # nothing within croniter's 50-year search
                return None
            if found.year > _MAX_YEAR:
                return None
            if self.years is not None and found.year not in self.years:
                later = [year for year in self.years if year > found.year]
                if not later:
                    return None
                cursor = datetime(min(later), 1, 1) - timedelta(seconds=1)
                continue
            if self.w_day is not None and _month_days(found) < self.w_day:
                cursor = _month_end(found)
                continue
            return found
        return None  # pragma: no cover


Expression = Cron | Rate | At

#: croniter objects by expression, per thread: building one parses the expression (~2 ms),
#: moving one to a new start costs little. A cache, bounded; each thread has its own.
_ITERATORS = threading.local()


def _iterator(expression: str, cursor: datetime) -> Any:
    """A croniter for ``expression`` standing at ``cursor``."""
    from croniter import croniter

    cache: dict[str, Any] | None = getattr(_ITERATORS, "cache", None)
    if cache is None:
        cache = _ITERATORS.cache = {}
    found = cache.get(expression)
    if found is None:
        if len(cache) >= 256:
            cache.clear()
        found = cache[expression] = croniter(expression, cursor)
    else:
        found.set_current(cursor, force=True)
    return found


def _existing(local: datetime, tz: ZoneInfo) -> datetime | None:
    """The UTC instant of a wall-clock time in ``tz`` (its first occurrence when the clocks
    pass it twice), None when the clocks skip it."""
    moment = local.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) != local:
        return None
    return moment


def _month_days(day: datetime) -> int:
    return (_month_end(day) + timedelta(seconds=1) - timedelta(days=1)).day


def _month_end(day: datetime) -> datetime:
    """The last second of ``day``'s month."""
    first_next = datetime(day.year + day.month // 12, day.month % 12 + 1, 1)
    return first_next - timedelta(seconds=1)


# -- parsing --------------------------------------------------------------------------------

_AT: Final = re.compile(r"at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)")
_RATE: Final = re.compile(r"rate\(([1-9]\d{0,8}) (minute|minutes|hour|hours|day|days)\)")
_CRON: Final = re.compile(r"cron\((.*)\)", re.S)
_UNITS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_MONTHS: Final = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT",
                  "NOV", "DEC")
_DAYS: Final = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def parse(text: str) -> Expression:
    """Parse a ScheduleExpression. Raises InvalidScheduleExpression (``.reason`` says why)."""
    if not isinstance(text, str) or not text:
        raise InvalidScheduleExpression(str(text), "the expression is empty")
    if text.startswith("at("):
        return _parse_at(text)
    if text.startswith("rate("):
        match = _RATE.fullmatch(text)
        if match is None:
            raise InvalidScheduleExpression(
                text, "a rate is rate(VALUE UNIT): a positive integer and minute(s), hour(s) "
                      "or day(s), e.g. rate(5 minutes)")
        seconds = int(match[1]) * _UNITS[match[2].rstrip("s")]
        return Rate(text, timedelta(seconds=seconds))
    match = _CRON.fullmatch(text)
    if match is None:
        raise InvalidScheduleExpression(
            text, "expected cron(...), rate(...) or at(...)")
    return _parse_cron(text, match[1])


def _parse_at(text: str) -> At:
    match = _AT.fullmatch(text)
    if match is None:
        raise InvalidScheduleExpression(text, "a one-time schedule is at(yyyy-mm-ddThh:mm:ss)")
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second)
    except ValueError as error:
        raise InvalidScheduleExpression(text, f"not a real date and time ({error})") from None
    return At(text, local)


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()
    slash: bool = True


_FIELDS: Final = (
    _Field("Minutes", 0, 59), _Field("Hours", 0, 23), _Field("Day-of-month", 1, 31),
    _Field("Month", 1, 12, _MONTHS), _Field("Day-of-week", 1, 7, _DAYS, slash=False),
    _Field("Year", 1970, _MAX_YEAR),
)


def _parse_cron(text: str, body: str) -> Cron:
    parts = body.split()
    if len(parts) != 6:
        raise InvalidScheduleExpression(
            text, f"a cron expression has 6 fields (minutes hours day-of-month month "
                  f"day-of-week year), not {len(parts)}")
    minute, hour, dom, month, dow, year = (part.upper() for part in parts)
    if (dom == "?") == (dow == "?"):
        raise InvalidScheduleExpression(
            text, "exactly one of day-of-month and day-of-week must be ? (a value or * in "
                  "one, ? in the other)")
    fail = _failer(text)
    for part, spec in zip((minute, hour, month, year), (_FIELDS[0], _FIELDS[1], _FIELDS[3],
                                                      _FIELDS[5]), strict=True):
        _check_list(part, spec, fail)
    w_day = None
    if dom != "?":
        dom, w_day = _dom(dom, fail)
    dow = "*" if dow == "?" else _dow(dow, fail)
    dom = "*" if dom == "?" else dom
    years = None if year == "*" else frozenset(_expand(year, _FIELDS[5], fail))
    return Cron(text, f"{minute} {hour} {dom} {month} {dow}", years, w_day)


def _failer(text: str) -> Callable[[str], InvalidScheduleExpression]:
    return lambda reason: InvalidScheduleExpression(text, reason)


def _value(token: str, spec: _Field, fail: Callable[[str], InvalidScheduleExpression]) -> int:
    if token in spec.names:
        return spec.names.index(token) + spec.low
    if not token.isdigit():
        raise fail(f"{spec.name}: {token!r} is not a number or name")
    number = int(token)
    if not spec.low <= number <= spec.high:
        raise fail(f"{spec.name}: {number} is outside {spec.low}-{spec.high}")
    return number


def _check_list(part: str, spec: _Field,
                fail: Callable[[str], InvalidScheduleExpression]) -> None:
    """A list of ``*``, ``N``, ``A-B``, each with an optional ``/STEP`` (where allowed)."""
    for item in part.split(","):
        base, slash, step = item.partition("/")
        if slash:
            if not spec.slash:
                raise fail(f"{spec.name}: / (increments) is not allowed here")
            if not step.isdigit() or int(step) == 0:
                raise fail(f"{spec.name}: the increment in {item!r} must be a positive number")
        if base == "*":
            continue
        low, dash, high = base.partition("-")
        _value(low, spec, fail)
        if dash:
            _value(high, spec, fail)


def _expand(part: str, spec: _Field,
            fail: Callable[[str], InvalidScheduleExpression]) -> set[int]:
    """The values a checked list stands for (the year field)."""
    out: set[int] = set()
    for item in part.split(","):
        base, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if base == "*":
            low, high = spec.low, spec.high
        else:
            first, dash, last = base.partition("-")
            low = _value(first, spec, fail)
            high = _value(last, spec, fail) if dash else (spec.high if step_text else low)
        out.update(range(low, high + 1, step))
    return out


def _dom(part: str, fail: Callable[[str], InvalidScheduleExpression]) -> tuple[str, int | None]:
    """Day-of-month: a list, ``L``, or ``NW`` (alone)."""
    if "W" in part:
        match = re.fullmatch(r"(\d{1,2})W", part)
        if match is None:
            raise fail("Day-of-month: W follows a single day (15W), never a list, range or L")
        day = _value(match[1], _FIELDS[2], fail)
        return part, day
    if "L" in part:
        if part != "L":
            raise fail("Day-of-month: L (the month's last day) stands alone")
        return part, None
    _check_list(part, _FIELDS[2], fail)
    return part, None


def _dow(part: str, fail: Callable[[str], InvalidScheduleExpression]) -> str:
    """Day-of-week, translated to croniter's numbering (0 = SUN)."""
    spec = _FIELDS[4]
    if "#" in part:
        match = re.fullmatch(r"(\w+)#([1-5])", part)
        if match is None:
            raise fail("Day-of-week: # is DAY#N with N 1-5 (6#3: the third Friday), alone in "
                       "the field")
        return f"{_value(match[1], spec, fail) - 1}#{match[2]}"
    if part == "L":
        return "6"  # the week's last day: Saturday
    if "L" in part:
        match = re.fullmatch(r"(\w+)L", part)
        if match is None or match[1] in ("", "L"):
            raise fail("Day-of-week: L is alone (Saturday) or after one day (6L: the month's "
                       "last Friday)")
        return f"L{_value(match[1], spec, fail) - 1}"
    _check_list(part, spec, fail)
    out = []
    for item in part.split(","):
        if item == "*":
            out.append(item)
            continue
        low, dash, high = item.partition("-")
        text = str(_value(low, spec, fail) - 1)
        if dash:
            text += f"-{_value(high, spec, fail) - 1}"
        out.append(text)
    return ",".join(out)
