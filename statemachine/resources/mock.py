"""Resources stage: a test double users plug in for any Resource.

    mock = MockResource([{"ok": 1}, MockError("Boom", "first try fails"), {"ok": 2}])
    machine = statemachine.load(definition, resources={"arn:aws:states:::sqs:sendMessage": mock})
    ...
    assert mock.inputs == [...]

Each call consumes the next scripted response (the last one repeats when ``repeat_last`` is
true, the default); a ``MockError`` fails the task with that error name and cause; a callable
is called with the TaskRequest and its value (or exception) used. Calls are recorded
(``calls`` holds the TaskRequests, ``inputs`` their inputs) and the mock is thread-safe.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterable

from statemachine.errors import StatesError
from statemachine.resources.base import TaskRequest
from statemachine.values import JSON


@dataclasses.dataclass(frozen=True, slots=True)
class MockError:
    """A scripted failure: the task fails with ``error`` and ``cause``."""

    error: str
    cause: str | None = None


Response = JSON | MockError | Callable[[TaskRequest], JSON]


class MockResource:
    """A scripted resource handler that records what it was called with."""

    def __init__(self, responses: Iterable[Response] | None = None, *, repeat_last: bool = True) -> None:
        self._responses: list[Response] = list(responses) if responses is not None else [None]
        self._repeat_last = repeat_last
        self._lock = threading.Lock()
        self.calls: list[TaskRequest] = []

    @classmethod
    def returning(cls, value: JSON) -> MockResource:
        return cls([value])

    @classmethod
    def failing(cls, error: str, cause: str | None = None) -> MockResource:
        return cls([MockError(error, cause)])

    @property
    def inputs(self) -> list[JSON]:
        return [call.input for call in self.calls]

    @property
    def call_count(self) -> int:
        return len(self.calls)

    def _next(self) -> Response:
        if not self._responses:
            raise StatesError("Mock.Exhausted", "the MockResource has no responses left")
        if len(self._responses) == 1 and self._repeat_last:
            return self._responses[0]
        return self._responses.pop(0)

    def __call__(self, request: TaskRequest) -> JSON:
        with self._lock:
            self.calls.append(request)
            response = self._next()
        if isinstance(response, MockError):
            raise StatesError(response.error, response.cause)
        if callable(response):
            return response(request)
        return response
