"""EventBridge Scheduler's expressions (statemachine.schedules.expressions): the grammar AWS
documents (good and bad expressions), next fire times, time zones and daylight saving time.

Golden values come from AWS's documentation: the cron examples of "Cron expressions
reference" (cron(0 18 ? * MON-FRI *) = 18:00 Monday to Friday, ...), its wildcard rules, and
"Schedule types on EventBridge Scheduler" / the DST knowledge-center article: a cron time the
clocks skip is not invoked, a repeated one runs once, and rate days are 24-hour durations.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from statemachine.schedules.expressions import (
    At,
    Cron,
    InvalidScheduleExpression,
    InvalidTimezone,
    Rate,
    parse,
    zone,
)

BERLIN = zone("Europe/Berlin")


def fires(text: str, after: datetime, count: int, tz: str = "UTC", **bounds: datetime
          ) -> list[datetime]:
    """The next ``count`` fire instants of a cron expression, in ``tz`` wall-clock time."""
    expression = parse(text)
    assert isinstance(expression, Cron)
    out: list[datetime] = []
    moment: datetime | None = after
    while len(out) < count:
        assert moment is not None
        moment = expression.next_fire(moment, tz=zone(tz), **bounds)
        if moment is None:
            break
        out.append(moment.astimezone(zone(tz)).replace(tzinfo=None))
    return out


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


START = datetime(2026, 1, 1, tzinfo=UTC)  # a Thursday


# -- good expressions ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    # AWS's examples table
    ("cron(0 10 * * ? *)", ["2026-01-01 10:00", "2026-01-02 10:00"]),
    ("cron(15 12 * * ? *)", ["2026-01-01 12:15", "2026-01-02 12:15"]),
    ("cron(0 18 ? * MON-FRI *)", ["2026-01-01 18:00", "2026-01-02 18:00", "2026-01-05 18:00"]),
    ("cron(0 8 1 * ? *)", ["2026-01-01 08:00", "2026-02-01 08:00", "2026-03-01 08:00"]),
    ("cron(0/15 * * * ? *)", ["2026-01-01 00:00", "2026-01-01 00:15", "2026-01-01 00:30"]),
    ("cron(0/10 * ? * MON-FRI *)", ["2026-01-01 00:00", "2026-01-01 00:10"]),
    ("cron(0/5 8-17 ? * MON-FRI *)", ["2026-01-01 08:00", "2026-01-01 08:05"]),
    ("cron(0 9 ? * 2#1 *)", ["2026-01-05 09:00", "2026-02-02 09:00", "2026-03-02 09:00"]),
    # 1/10: every tenth minute from the first (AWS: "the 11th, 21st, and 31st minute")
    ("cron(1/10 * * * ? *)", ["2026-01-01 00:01", "2026-01-01 00:11", "2026-01-01 00:21"]),
    # lists and names, in any case
    ("cron(0 6 ? JAN,MAR * *)", ["2026-01-01 06:00", "2026-01-02 06:00"]),
    ("cron(0 6 1 jan,mar ? *)", ["2026-01-01 06:00", "2026-03-01 06:00", "2027-01-01 06:00"]),
    # day-of-week 1 = Sunday, 7 = Saturday
    ("cron(0 12 ? * 1 *)", ["2026-01-04 12:00", "2026-01-11 12:00"]),
    ("cron(0 12 ? * 7 *)", ["2026-01-03 12:00", "2026-01-10 12:00"]),
    ("cron(0 12 ? * SUN,SAT *)", ["2026-01-03 12:00", "2026-01-04 12:00", "2026-01-10 12:00"]),
    # L: last day of the month; of the week (Saturday); 6L: the month's last Friday
    ("cron(0 12 L * ? *)", ["2026-01-31 12:00", "2026-02-28 12:00", "2026-03-31 12:00"]),
    ("cron(0 12 ? * L *)", ["2026-01-03 12:00", "2026-01-10 12:00"]),
    ("cron(0 12 ? * 6L *)", ["2026-01-30 12:00", "2026-02-27 12:00", "2026-03-27 12:00"]),
    # W: the weekday nearest the day, within the month (Jan 3 2026 is a Saturday -> Friday 2;
    # Feb 1 is a Sunday -> Monday 2; Jan 31 is a Saturday -> Friday 30)
    ("cron(0 12 3W * ? *)", ["2026-01-02 12:00", "2026-02-03 12:00", "2026-03-03 12:00"]),
    ("cron(0 12 1W * ? *)", ["2026-01-01 12:00", "2026-02-02 12:00", "2026-03-02 12:00"]),
    ("cron(0 12 31W * ? *)", ["2026-01-30 12:00", "2026-03-31 12:00", "2026-05-29 12:00"]),
    # the year field: lists, ranges, increments
    ("cron(0 0 1 1 ? 2028,2030)", ["2028-01-01 00:00", "2030-01-01 00:00"]),
    ("cron(0 0 1 1 ? 2027-2028)", ["2027-01-01 00:00", "2028-01-01 00:00"]),
    ("cron(0 0 1 1 ? 2026/4)", ["2026-01-01 00:00", "2030-01-01 00:00", "2034-01-01 00:00"]),
    ("cron(30 23 29 FEB ? *)", ["2028-02-29 23:30", "2032-02-29 23:30"]),
])
def test_cron_fires_where_aws_documents(text: str, expected: list[str]) -> None:
    got = fires(text, START - timedelta(microseconds=1), len(expected) + 1)
    assert [d.strftime("%Y-%m-%d %H:%M") for d in got[:len(expected)]] == expected


def test_an_expression_that_ends_stops_firing() -> None:
    assert fires("cron(0 0 1 1 ? 2026)", START, 3) == []      # only 2026-01-01 00:00, passed
    assert fires("cron(0 0 30 2 ? *)", START, 1) == []        # February 30th never comes
    assert fires("cron(0 0 1 1 ? 2199)", at("2199-06-01T00:00:00+00:00"), 1) == []


def test_start_and_end_dates_bound_a_cron_schedule() -> None:
    got = fires("cron(0 12 * * ? *)", START, 10, start=at("2026-01-05T00:00:00+00:00"),
                end=at("2026-01-07T12:00:00+00:00"))
    # StartDate inclusive ("on, or after"), EndDate exclusive ("before which")
    assert [d.day for d in got] == [5, 6]


# -- bad expressions ----------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"),
    ("every 5 minutes", "expected cron(...), rate(...) or at(...)"),
    ("cron(0 10 * * ?)", "6 fields"),
    ("cron(0 10 * * ? * *)", "6 fields"),
    ("cron(0 10 * * * *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 10 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 10 5 * MON *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(60 10 * * ? *)", "Minutes: 60 is outside 0-59"),
    ("cron(0 24 * * ? *)", "Hours: 24 is outside 0-23"),
    ("cron(0 10 0 * ? *)", "Day-of-month: 0 is outside 1-31"),
    ("cron(0 10 32 * ? *)", "Day-of-month: 32 is outside 1-31"),
    ("cron(0 10 * 13 ? *)", "Month: 13 is outside 1-12"),
    ("cron(0 10 * JANUARY ? *)", "Month: 'JANUARY' is not a number or name"),
    ("cron(0 10 ? * 0 *)", "Day-of-week: 0 is outside 1-7"),
    ("cron(0 10 ? * 8 *)", "Day-of-week: 8 is outside 1-7"),
    ("cron(0 10 * * ? 1969)", "Year: 1969 is outside 1970-2199"),
    ("cron(0 10 * * ? 2200)", "Year: 2200 is outside 1970-2199"),
    ("cron(*/0 10 * * ? *)", "must be a positive number"),
    ("cron(0 10 ? * MON/2 *)", "Day-of-week: / (increments) is not allowed"),
    ("cron(0 10 ? * 3#1,6#3 *)", "# is DAY#N"),       # AWS: "3#1,6#3" is two expressions
    ("cron(0 10 ? * 3#6 *)", "# is DAY#N"),
    ("cron(0 10 1W,15 * ? *)", "W follows a single day"),
    ("cron(0 10 1-5W * ? *)", "W follows a single day"),
    ("cron(0 10 LW * ? *)", "W follows a single day"),
    ("cron(0 10 L,15 * ? *)", "L (the month's last day) stands alone"),
    ("cron(0 10 ? * 2L,3 *)", "L is alone"),
    ("cron(0 10 * * L *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 10 L * L *)", "exactly one of day-of-month and day-of-week must be ?"),
    ("rate(0 minutes)", "a positive integer"),
    ("rate(-5 minutes)", "a positive integer"),
    ("rate(5 weeks)", "minute(s), hour(s) or day(s)"),
    ("rate(5minutes)", "rate(VALUE UNIT)"),
    ("rate(1.5 hours)", "a positive integer"),
    ("at(2026-02-30T10:00:00)", "not a real date and time"),
    ("at(2026-03-01 10:00:00)", "at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2026-03-01T10:00)", "at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2026-03-01T10:00:00Z)", "at(yyyy-mm-ddThh:mm:ss)"),
])
def test_bad_expressions_are_refused_with_aws_message(text: str, reason: str) -> None:
    with pytest.raises(InvalidScheduleExpression) as raised:
        parse(text)
    assert str(raised.value) == f"Invalid Schedule Expression {text}."
    assert reason in raised.value.reason


def test_time_zones_are_iana_names() -> None:
    assert zone("America/New_York").key == "America/New_York"
    # "localtime" and "posixrules" are files of the host's zone database, not IANA names:
    # a schedule in them would follow whatever zone the host is set to
    for bad in ("Mars/Olympus", "", "../etc/passwd", "Europe/", "localtime", "posixrules"):
        with pytest.raises(InvalidTimezone, match="not an IANA time zone name"):
            zone(bad)


# -- rate and at --------------------------------------------------------------------------------

def test_rate_counts_fixed_durations_from_its_anchor() -> None:
    expression = parse("rate(90 minutes)")
    assert isinstance(expression, Rate) and expression.every == timedelta(minutes=90)
    anchor = at("2026-01-01T00:00:00+00:00")
    assert expression.next_fire(anchor - timedelta(seconds=1), anchor=anchor) == anchor
    assert expression.next_fire(anchor, anchor=anchor) == at("2026-01-01T01:30:00+00:00")
    assert expression.next_fire(at("2026-01-01T02:00:00+00:00"), anchor=anchor) == at(
        "2026-01-01T03:00:00+00:00")
    assert expression.next_fire(anchor, anchor=anchor, end=at("2026-01-01T01:30:00+00:00")
                                ) is None
    assert parse("rate(1 day)") == Rate("rate(1 day)", timedelta(days=1))
    assert parse("rate(2 hours)") == Rate("rate(2 hours)", timedelta(hours=2))


def test_rate_days_are_24_hours_across_a_dst_change() -> None:
    # AWS: "days represents a 24-hour duration ... evaluates the rate expression 24 hours after
    # the schedule's last invocation": 09:00 CET on Saturday is 10:00 CEST on Sunday
    expression = parse("rate(1 day)")
    assert isinstance(expression, Rate)
    anchor = datetime(2026, 3, 28, 9, 0, tzinfo=BERLIN).astimezone(UTC)
    after = expression.next_fire(anchor, anchor=anchor)
    assert after is not None
    assert after.astimezone(BERLIN).replace(tzinfo=None) == datetime(2026, 3, 29, 10, 0)


def test_at_is_read_in_the_schedules_zone() -> None:
    expression = parse("at(2026-07-01T09:30:00)")
    assert isinstance(expression, At)
    assert expression.instant(BERLIN) == at("2026-07-01T07:30:00+00:00")
    assert expression.next_fire(at("2026-07-01T07:29:59+00:00"), tz=BERLIN) == at(
        "2026-07-01T07:30:00+00:00")
    assert expression.next_fire(at("2026-07-01T07:30:00+00:00"), tz=BERLIN) is None
    assert parse("at(2026-07-01T09:30:00)").instant(zone("UTC")) == at(  # type: ignore[union-attr]
        "2026-07-01T09:30:00+00:00")


# -- daylight saving time -----------------------------------------------------------------------

def test_a_cron_time_the_clocks_skip_does_not_fire() -> None:
    # Europe/Berlin moves from 02:00 CET to 03:00 CEST on Sunday 2026-03-29: 02:30 never is
    got = fires("cron(30 2 * * ? *)", at("2026-03-27T12:00:00+00:00"), 3, "Europe/Berlin")
    assert got == [datetime(2026, 3, 28, 2, 30), datetime(2026, 3, 30, 2, 30),
                   datetime(2026, 3, 31, 2, 30)]


def test_a_cron_time_the_clocks_repeat_fires_once() -> None:
    # back from 03:00 CEST to 02:00 CET on Sunday 2026-10-25: 02:00-02:59 happen twice
    expression = parse("cron(0/30 * ? * 1 2026)")
    assert isinstance(expression, Cron)
    moment: datetime | None = at("2026-10-24T23:00:00+00:00")  # 01:00 CEST
    utc = []
    for _ in range(5):
        assert moment is not None
        moment = expression.next_fire(moment, tz=BERLIN)
        assert moment is not None
        utc.append(moment.strftime("%H:%M%z"))
    # 01:30 CEST, 02:00 CEST, 02:30 CEST (first pass only), then 03:00 CET, 03:30 CET
    assert utc == ["23:30+0000", "00:00+0000", "00:30+0000", "02:00+0000", "02:30+0000"]


def test_a_daily_cron_keeps_its_wall_clock_time_across_both_changes() -> None:
    got = fires("cron(0 9 * * ? *)", at("2026-03-28T00:00:00+00:00"), 3, "Europe/Berlin")
    assert [d.hour for d in got] == [9, 9, 9]
    expression = parse("cron(0 9 * * ? *)")
    assert isinstance(expression, Cron)
    sat = expression.next_fire(at("2026-03-28T00:00:00+00:00"), tz=BERLIN)
    assert sat == at("2026-03-28T08:00:00+00:00")    # CET, UTC+1
    assert expression.next_fire(sat, tz=BERLIN) == at("2026-03-29T07:00:00+00:00")  # CEST


def test_an_at_time_the_clocks_skip_uses_the_offset_before_the_change() -> None:
    expression = parse("at(2026-03-29T02:30:00)")
    assert isinstance(expression, At)
    assert expression.instant(BERLIN) == at("2026-03-29T01:30:00+00:00")  # = 03:30 CEST
