"""Shared fixtures. Real servers are started once per session (see tests/servers.py)."""

from __future__ import annotations

import os

import pytest

from tests import servers


def start_server(cls: type[servers.Server], **kwargs) -> servers.Server:
    """Start a server, or skip (fail under AGENT_REQUIRE_SERVERS=1) when it is not installed."""
    try:
        server = cls(**kwargs)
    except servers.MissingBinary as exc:
        missing = str(exc)
    else:
        missing = ""
    if missing and os.environ.get("AGENT_REQUIRE_SERVERS") == "1":
        pytest.fail(f"{missing} (AGENT_REQUIRE_SERVERS=1; tests/run installs it)", pytrace=False)
    if missing:
        pytest.skip(missing)
    try:
        return server.start()
    except BaseException:
        server.close()
        raise


@pytest.fixture(scope="session")
def influxdb1():
    server = start_server(servers.InfluxDB1)
    yield server
    server.close()


@pytest.fixture(scope="session")
def victoria_metrics():
    server = start_server(servers.VictoriaMetrics)
    yield server
    server.close()


@pytest.fixture(scope="session")
def postgresql():
    server = start_server(servers.PostgreSQL)
    yield server
    server.close()


@pytest.fixture(scope="session")
def mosquitto():
    """A shared broker (anonymous, no persistence): give each test its own topics. Tests that
    stop the broker or need persistence start their own with start_server(servers.Mosquitto)."""
    server = start_server(servers.Mosquitto)
    yield server
    server.close()
