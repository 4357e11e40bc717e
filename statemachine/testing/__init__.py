"""Testing stage: offline testing of state machines.

- ``mockconfig``: Step Functions Local's MockConfigFile, read and checked (MockConfigError).
- ``mocks``: mocked states by name at run time (``StateMachine.run(..., mocks=MockPlan(...))``).
- ``testfile``: ``*.test.yaml`` cases and their runner (``sm test``).
- ``teststate``: AWS's TestState API offline (``StateMachine.test_state``, ``sm test-state``).
- ``pytest_plugin``: fixtures for pytest (entry point ``pytest11``; fixtures only, no hooks).
"""

from statemachine.testing.mockconfig import MockConfig, MockConfigError, load_mock_config
from statemachine.testing.mocks import MockPlan, load_for_test

__all__ = ["MockConfig", "MockConfigError", "MockPlan", "load_for_test", "load_mock_config"]
