"""Fixtures for the resource handler tests: loopback HTTP and Lambda Invoke servers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures.servers import http_test_server, lambda_server, url_of


@pytest.fixture
def http_server() -> Iterator[Any]:
    with http_test_server() as server:
        server.url = url_of(server)
        yield server


@pytest.fixture
def lambda_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A local Lambda Invoke endpoint, with boto3 pointed at it through the standard
    AWS configuration variables (no credentials or config files of the user are read)."""
    functions = {"identity": "id_function", "echo": "echo_function",
                 "fails": "raise_exception", "custom": "raise_custom_exception",
                 "large": "large_output_string", "raw": "return_bytes_str"}
    with lambda_server(functions) as server:
        server.url = url_of(server)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", server.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield server
