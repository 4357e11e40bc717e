"""Schedules on the durable store (SQLite and PostgreSQL): the Service's EventBridge Scheduler
verbs and their errors, the scheduler firing under a virtual clock across both DST changes of
Europe/Berlin, once per instant with two schedulers, missed fires after a restart (once or
skipped), flexible windows, and a worker that fires and runs a schedule end to end."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from durable_backends import Backend

from statemachine.clock import VirtualClock
from statemachine.durable import DurableStore
from statemachine.durable.worker import Worker
from statemachine.schedules.scheduler import Scheduler, execution_name, fire_offset
from statemachine.service import (
    ConflictException,
    ResourceNotFoundException,
    Service,
    ValidationException,
)

ECHO = {"StartAt": "Echo", "States": {"Echo": {"Type": "Pass", "End": True}}}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def machine_file(tmp_path: Path) -> Path:
    path = tmp_path / "echo.json"
    path.write_text(json.dumps(ECHO))
    return path


def open_service(backend: Backend, start: datetime | None = None) -> Service:
    service = Service(backend.open())
    if start is not None:
        service.schedule_clock = VirtualClock(start=start.timestamp())
    return service


def fired(store: DurableStore) -> list[tuple[str, datetime]]:
    """(name, start date) of every execution, oldest first."""
    return sorted(((r.name, r.start_date) for r in store.executions()), key=lambda x: x[1])


def run_until(store: DurableStore, start: datetime, stop: datetime, **options: Any) -> Scheduler:
    """Run a scheduler on a virtual clock from ``start`` until the clock reaches ``stop``."""
    clock = VirtualClock(start=start.timestamp())
    scheduler = Scheduler(store, clock=clock, poll=86_400 * 30, log=lambda _: None, **options)
    asyncio.run(scheduler.run(stop_at=stop))
    return scheduler


def create(service: Service, arn: str, expression: str, **fields: Any) -> dict[str, Any]:
    return service.create_schedule(Name=fields.pop("Name", "nightly"),
                                   ScheduleExpression=expression,
                                   Target={"Arn": arn, "Input": '{"report": "daily"}'}, **fields)


# -- the verbs ----------------------------------------------------------------------------------

def test_schedules_are_stored_with_aws_fields_and_survive_a_restart(
        backend: Backend, machine_file: Path) -> None:
    service = open_service(backend, utc("2026-03-27T12:00:00"))
    arn = service.store_machine(machine_file)
    created = create(service, arn, "cron(30 2 * * ? *)", ScheduleExpressionTimezone="Europe/Berlin",
                     FlexibleTimeWindow={"Mode": "OFF"}, Description="the nightly report")
    assert created == {"ScheduleArn":
                       "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"}
    service.close()

    again = open_service(backend)  # another process, after a restart
    got = again.get_schedule(Name="nightly")
    assert got["ScheduleExpression"] == "cron(30 2 * * ? *)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert got["Target"] == {"Arn": arn, "Input": '{"report": "daily"}'}
    assert got["State"] == "ENABLED" and got["GroupName"] == "default"
    assert got["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert got["Description"] == "the nightly report"
    # 02:30 CET on Saturday 2026-03-28 is 01:30 UTC
    assert got["NextFireTime"] == "2026-03-28T01:30:00+00:00"
    listed = again.list_schedules()["Schedules"]
    assert [(s["Name"], s["NextFireTime"], s["Target"]) for s in listed] == [
        ("nightly", "2026-03-28T01:30:00+00:00", {"Arn": arn})]
    # the next fire times skip 02:30 on Sunday the 29th, which Berlin's clocks never show
    assert [t.isoformat() for t in again.schedule_fire_times(Name="nightly", count=3)] == [
        "2026-03-28T01:30:00+00:00", "2026-03-30T00:30:00+00:00", "2026-03-31T00:30:00+00:00"]
    assert again.delete_schedule(Name="nightly") == {}
    assert again.list_schedules() == {"Schedules": []}


def test_schedule_requests_fail_with_aws_errors(backend: Backend, machine_file: Path) -> None:
    service = open_service(backend, utc("2026-01-01T00:00:00"))
    arn = service.store_machine(machine_file)
    create(service, arn, "rate(5 minutes)")
    with pytest.raises(ConflictException, match=r"^Schedule nightly already exists\.$"):
        create(service, arn, "rate(5 minutes)")
    create(service, arn, "rate(5 minutes)", GroupName="other")  # names are unique per group
    cases: list[tuple[dict[str, Any], str]] = [
        ({"ScheduleExpression": "cron(0 10 * * * *)"},
         r"^Invalid Schedule Expression cron\(0 10 \* \* \* \*\)\.$"),
        ({"ScheduleExpressionTimezone": "Mars/Olympus"}, "Invalid ScheduleExpressionTimezone"),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE"}}, "MaximumWindowInMinutes"),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1441}},
         "from 1 to 1440"),
        ({"FlexibleTimeWindow": {"Mode": "SOMETIMES"}}, "OFF or FLEXIBLE"),
        ({"StartDate": "2025-12-31T23:54:00Z"},
         r"^The StartDate you specify cannot be earlier than 5 minutes ago\.$"),
        ({"StartDate": "2026-02-01T00:00:00Z", "EndDate": "2026-01-15T00:00:00Z"},
         "EndDate you specify must be after the StartDate"),
        ({"State": "PAUSED"}, "ENABLED or DISABLED"),
        ({"Name": "no spaces"}, "Name must be 1-64"),
        ({"Target": {"Arn": arn, "Input": "{not json"}}, "Target.Input is not JSON"),
    ]
    for fields, message in cases:
        request: dict[str, Any] = {"Name": "n2", "ScheduleExpression": "rate(1 hour)",
                                   "Target": {"Arn": arn}, **fields}
        with pytest.raises(ValidationException, match=message):
            service.create_schedule(**request)
    with pytest.raises(ResourceNotFoundException, match="State Machine Does Not Exist"):
        service.create_schedule(Name="n3", ScheduleExpression="rate(1 hour)",
                                Target={"Arn": arn + "-gone"})
    with pytest.raises(ResourceNotFoundException, match=r"^Schedule gone does not exist\.$"):
        service.get_schedule(Name="gone")
    with pytest.raises(ResourceNotFoundException):
        service.delete_schedule(Name="gone")
    # a one-time schedule ignores StartDate, as on AWS
    create(service, arn, "at(2026-06-01T08:00:00)", Name="once",
           StartDate="2020-01-01T00:00:00Z")


# -- firing under a virtual clock -----------------------------------------------------------------

@pytest.mark.parametrize(("start", "stop", "expected"), [
    # spring: Sunday 2026-03-29 02:00 CET -> 03:00 CEST; 02:30 does not exist that day
    ("2026-03-27T12:00:00", "2026-03-31T12:00:00",
     ["2026-03-28T01:30:00", "2026-03-30T00:30:00", "2026-03-31T00:30:00"]),
    # autumn: Sunday 2026-10-25 03:00 CEST -> 02:00 CET; 02:30 happens twice, fires once
    ("2026-10-23T12:00:00", "2026-10-27T12:00:00",
     ["2026-10-24T00:30:00", "2026-10-25T00:30:00", "2026-10-26T01:30:00",
      "2026-10-27T01:30:00"]),
])
def test_a_schedule_fires_at_the_right_instants_across_a_dst_change(
        backend: Backend, machine_file: Path, start: str, stop: str, expected: list[str]) -> None:
    service = open_service(backend, utc(start))
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(30 2 * * ? *)", ScheduleExpressionTimezone="Europe/Berlin")
    scheduler = run_until(service.store, utc(start), utc(stop))
    got = fired(service.store)
    assert [when for _, when in got] == [utc(text) for text in expected]
    assert [name for name, _ in got] == [execution_name("nightly", utc(t)) for t in expected]
    assert got[0][0] == f"nightly-{expected[0][:10].replace('-', '')}T{expected[0][11:].replace(':', '')}Z"
    assert len(scheduler.fired) == len(expected)
    record = service.store.executions()[0]
    assert json.loads(record.input) == {"report": "daily"}
    assert record.machine_arn == arn
    assert service.get_schedule(Name="nightly")["LastFireTime"] == utc(expected[-1]).isoformat()


def test_rate_at_and_disabled_schedules_under_a_virtual_clock(
        backend: Backend, machine_file: Path) -> None:
    start = utc("2026-05-01T10:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    # a rate without StartDate fires at once, then every 40 minutes, until EndDate
    create(service, arn, "rate(40 minutes)", Name="often", EndDate="2026-05-01T12:00:00Z")
    create(service, arn, "at(2026-05-01T13:15:00)", Name="once",
           ScheduleExpressionTimezone="Europe/Berlin")         # 11:15 UTC
    create(service, arn, "rate(1 minute)", Name="off", State="DISABLED")
    create(service, arn, "at(2026-05-01T12:30:00)", Name="gone", ActionAfterCompletion="DELETE")
    with pytest.raises(ValidationException, match="ActionAfterCompletion must be NONE or DELETE"):
        create(service, arn, "rate(1 hour)", Name="bad", ActionAfterCompletion="ARCHIVE")
    assert service.get_schedule(Name="gone")["ActionAfterCompletion"] == "DELETE"
    run_until(service.store, start, utc("2026-05-02T00:00:00"))
    assert [(n.split("-")[0], t.strftime("%H:%M")) for n, t in fired(service.store)] == [
        ("often", "10:00"), ("often", "10:40"), ("once", "11:15"), ("often", "11:20"),
        ("gone", "12:30")]
    with pytest.raises(ResourceNotFoundException):   # DELETE: removed once completed
        service.get_schedule(Name="gone")
    assert service.get_schedule(Name="once")["ActionAfterCompletion"] == "NONE"  # kept
    assert "NextFireTime" not in service.get_schedule(Name="once")      # done
    assert "NextFireTime" not in service.get_schedule(Name="often")     # past its EndDate
    assert "NextFireTime" not in service.get_schedule(Name="off")


def test_two_schedulers_fire_one_instant_once(backend: Backend, machine_file: Path) -> None:
    start = utc("2026-01-01T00:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(0 * * * ? *)", Name="hourly")
    first = Scheduler(backend.open(), log=lambda _: None)
    second = Scheduler(backend.open(), log=lambda _: None)
    due = utc("2026-01-01T01:00:30")
    before = service.store.schedule("default", "hourly")
    assert len(first.fire_due(due)) == 1
    # the second had read the schedule before the first moved it on (a race), or the first
    # crashed between storing the execution and moving the schedule on: put it back
    assert before is not None
    assert service.store.advance_schedule("default", "hourly", expected=utc(
        "2026-01-01T02:00:00"), next_fire=before.next_fire, last_fire=None)
    assert second.fire_due(due) == []          # ExecutionAlreadyExists: already fired
    assert [name for name, _ in fired(service.store)] == ["hourly-20260101T010000Z"]
    assert service.get_schedule(Name="hourly")["NextFireTime"] == "2026-01-01T02:00:00+00:00"


@pytest.mark.parametrize("catchup", ["once", "skip"])
def test_fires_missed_while_nothing_ran(backend: Backend, machine_file: Path,
                                        catchup: str) -> None:
    start = utc("2026-01-01T00:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(0 * * * ? *)", Name="hourly")
    service.close()
    # nothing runs until 05:30; then a scheduler starts on a fresh connection
    store = backend.open()
    logs: list[str] = []
    scheduler = Scheduler(store, clock=VirtualClock(start=utc("2026-01-01T05:30:00").timestamp()),
                          poll=86_400, catchup=catchup, log=logs.append)  # type: ignore[arg-type]
    asyncio.run(scheduler.run(stop_at=utc("2026-01-01T07:30:00")))
    names = [name for name, _ in fired(store)]
    if catchup == "once":   # the missed 01:00-05:00 fires run once, as the 05:00 one
        assert names == ["hourly-20260101T050000Z", "hourly-20260101T060000Z",
                         "hourly-20260101T070000Z"]
        assert fired(store)[0][1] == utc("2026-01-01T05:30:00")
        assert logs == []
    else:
        assert names == ["hourly-20260101T060000Z", "hourly-20260101T070000Z"]
        assert "skipped the fire of 2026-01-01T05:00:00+00:00" in logs[0]
    record = store.schedule("default", "hourly")
    assert record is not None and record.next_fire == utc("2026-01-01T08:00:00")


def test_a_flexible_window_fires_within_it_at_a_fixed_offset(
        backend: Backend, machine_file: Path) -> None:
    start = utc("2026-01-01T00:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(0 * * * ? *)", Name="spread",
           FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15})
    run_until(service.store, start, utc("2026-01-01T05:00:00"))
    got = fired(service.store)
    # created at 00:00 sharp: 00:00 is its first instant
    assert [name for name, _ in got] == [f"spread-20260101T0{h}0000Z" for h in range(5)]
    record = service.store.schedule("default", "spread")
    assert record is not None
    offsets = []
    for hour, (_, when) in enumerate(got):
        instant = utc(f"2026-01-01T0{hour}:00:00")
        assert instant <= when < instant + timedelta(minutes=15)
        assert when == instant + fire_offset(record, instant)
        offsets.append(when - instant)
    assert len(set(offsets)) > 1  # spread, not one fixed delay


def test_a_worker_fires_and_runs_a_schedule(backend: Backend, machine_file: Path) -> None:
    service = open_service(backend)
    arn = service.store_machine(machine_file)
    create(service, arn, "rate(1 day)", Name="daily")  # a rate starts at once
    worker = Worker(backend.open(), poll=0.05, lease_seconds=5, log=lambda _: None,
                    schedules=True)
    asyncio.run(asyncio.wait_for(worker.run(until=lambda: bool(worker.finished)), 60))
    (execution,) = service.store.executions()
    assert execution.name.startswith("daily-") and execution.status == "SUCCEEDED"
    assert json.loads(execution.output or "null") == {"report": "daily"}


def test_a_schedule_that_cannot_fire_is_logged_and_retried_later(
        backend: Backend, machine_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    start = utc("2026-01-01T00:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(0 * * * ? *)", Name="hourly")
    logs: list[str] = []
    scheduler = Scheduler(service.store, poll=30, log=logs.append)
    monkeypatch.setitem(__import__("sys").modules, "croniter", None)  # the extra is missing
    due = utc("2026-01-01T01:00:10")
    assert scheduler.fire_due(due) == []
    assert logs == ["scheduler: default/hourly: cron schedules need croniter: pip install "
                    "'statemachine-asl[schedules]'; trying again in 30 s"]
    assert scheduler._wait(due, None) == 30.0       # no busy loop on a failing schedule
    assert scheduler.fire_due(due + timedelta(seconds=5)) == []   # not retried before then
    assert len(logs) == 1
    monkeypatch.undo()
    assert len(scheduler.fire_due(due + timedelta(seconds=31))) == 1


def test_a_long_outage_of_a_dense_schedule_fires_once_without_walking_every_minute(
        backend: Backend, machine_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from statemachine.schedules import scheduler as module

    start = utc("2026-01-01T00:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(* * * * ? *)", Name="minutely")
    steps: list[datetime] = []
    original = module.next_fire

    def counting(record: Any, after: datetime) -> datetime | None:
        steps.append(after)
        return original(record, after)

    monkeypatch.setattr(module, "next_fire", counting)
    scheduler = Scheduler(service.store, log=lambda _: None)
    (fired_arn,) = scheduler.fire_due(utc("2026-03-01T12:00:30"))   # two months later
    assert len(steps) < 100  # from the last hour, not 85,000 minutes since January
    assert fired_arn.endswith(":minutely-20260301T120000Z")
    record = service.store.schedule("default", "minutely")
    assert record is not None and record.next_fire == utc("2026-03-01T12:01:00")


def test_schedules_of_one_name_in_two_groups_each_fire(backend: Backend,
                                                       machine_file: Path) -> None:
    start = utc("2026-01-01T00:00:00")
    service = open_service(backend, start)
    arn = service.store_machine(machine_file)
    create(service, arn, "cron(0 1 * * ? *)", Name="daily")
    create(service, arn, "cron(0 1 * * ? *)", Name="daily", GroupName="reports")
    assert len(Scheduler(service.store, log=lambda _: None).fire_due(
        utc("2026-01-01T01:00:05"))) == 2
    assert sorted(name for name, _ in fired(service.store)) == [
        "daily-20260101T010000Z", "daily@reports-20260101T010000Z"]
    assert len(execution_name("n" * 64, start, "g" * 64)) == 80


def test_the_store_keeps_schedule_rows_exactly_and_advances_by_compare_and_set(
        store: DurableStore) -> None:
    from statemachine.durable import ScheduleExists, ScheduleNotFound, ScheduleRecord

    record = ScheduleRecord(
        name="n", group_name="g", expression="rate(1 hour)", timezone="Europe/Berlin",
        target_arn="arn:aws:states:us-east-1:123456789012:stateMachine:m", input='{"a": 1}',
        created=utc("2026-01-01T00:00:00.123456"), modified=utc("2026-01-02T00:00:00"),
        state="DISABLED", window_minutes=5, start_date=utc("2026-01-03T00:00:00"),
        end_date=utc("2026-02-01T00:00:00"), description="d",
        next_fire=utc("2026-01-03T00:00:00"), action_after_completion="DELETE")
    assert store.create_schedule(record) == record
    assert store.schedule("g", "n") == record                 # every field, to the microsecond
    with pytest.raises(ScheduleExists):
        store.create_schedule(record)
    assert store.schedules(group_name="other") == [] and store.schedules() == [record]
    # compare-and-set: only from the expected next fire
    assert not store.advance_schedule("g", "n", expected=utc("2026-01-04T00:00:00"),
                                      next_fire=None, last_fire=None)
    assert store.advance_schedule("g", "n", expected=utc("2026-01-03T00:00:00"),
                                  next_fire=None, last_fire=utc("2026-01-03T00:00:00"))
    assert store.advance_schedule("g", "n", expected=None, next_fire=utc("2026-01-05T00:00:00"),
                                  last_fire=None)
    got = store.schedule("g", "n")
    assert got is not None and got.next_fire == utc("2026-01-05T00:00:00")
    import dataclasses

    with pytest.raises(ScheduleNotFound):
        store.put_schedule(dataclasses.replace(record, name="missing"))
    assert store.put_schedule(dataclasses.replace(record, state="ENABLED")).state == "ENABLED"
    assert store.schedule("g", "n").state == "ENABLED"  # type: ignore[union-attr]
    assert store.delete_schedule("g", "n") and not store.delete_schedule("g", "n")
    assert store.schedule("g", "n") is None
