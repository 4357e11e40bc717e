"""A separate process for the durable-store race tests (run as a script, not collected).

    python worker.py '<backend argv as JSON>' append ARN WRITER BATCHES BATCH_SIZE READY GO
    python worker.py '<backend argv as JSON>' claim OWNER NOW_US READY GO

It opens its own store, writes the READY file, waits (bounded) for the GO file so both
processes start together, does its work, and prints one JSON object on stdout:
``append``: {"won": [[first_id, last_id, batch_no], ...], "conflicts": n};
``claim``: {"claimed": [execution_arn, ...]}.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from statemachine.durable import DurableStore, EventConflict, EventRecord, SqliteStore


def open_backend(argv: list[str]) -> DurableStore:
    if argv[0] == "sqlite":
        return SqliteStore(argv[1], busy_timeout=30)
    from statemachine.durable.postgres import PostgresStore

    return PostgresStore(argv[1], schema=argv[2], busy_timeout=30)


def rendezvous(ready: str, go: str) -> None:
    Path(ready).touch()
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        time.sleep(0.005)


def append(store: DurableStore, arn: str, writer: str, batches: int, size: int) -> dict[str, object]:
    won, conflicts = [], 0
    stamp = datetime(2026, 1, 1, tzinfo=UTC)
    for batch in range(batches):
        while True:
            record = store.execution(arn)
            assert record is not None
            last = record.last_event_id
            events = [EventRecord(last + i, "PassStateEntered", stamp,
                                  json.dumps({"writer": writer, "batch": batch, "part": i}))
                      for i in range(1, size + 1)]
            try:
                store.append(arn, events, after=last)
            except EventConflict:
                conflicts += 1
                continue
            won.append([last + 1, last + size, batch])
            break
    return {"won": won, "conflicts": conflicts}


def claim(store: DurableStore, owner: str, now_us: int) -> dict[str, object]:
    now = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=now_us)
    claimed: list[str] = []
    while batch := store.claim_due(owner, now=now, lease_seconds=300, limit=1):
        claimed += [claim.lease.execution_arn for claim in batch]
    return {"claimed": claimed}


def main(argv: list[str]) -> None:
    store = open_backend(json.loads(argv[1]))
    if argv[2] == "append":
        _, _, _, arn, writer, batches, size, ready, go = argv
        rendezvous(ready, go)
        result = append(store, arn, writer, int(batches), int(size))
    else:
        _, _, _, owner, now_us, ready, go = argv
        rendezvous(ready, go)
        result = claim(store, owner, int(now_us))
    store.close()
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
