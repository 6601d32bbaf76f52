"""Recovery latency: after an outage long enough for the backoff to reach tens of seconds, the
writer's probe (GET /ping about once a second while the server is away) resumes delivery within
seconds of the server's return; and SIGTERM ends any backoff with one immediate attempt."""

from __future__ import annotations

from tests.delivery.proxy import InfluxProxy
from tests.delivery_helpers import (
    AgentProcess,
    file_metrics,
    influx_times,
    influx_times_so_far,
    spooled_lines,
    spooled_lines_so_far,
    wait_until,
)

CONFIG = """
[agent]
  interval = "100ms"
  flush_interval = "200ms"
  retry_max_interval = "2h"
  shutdown_timeout = "5s"
  buffer_directory = "{spool}"
[[inputs.mem]]
  fieldinclude = ["used"]
[[outputs.file]]
  files = ["{truth}"]
[[outputs.influxdb]]
  urls = ["{url}"]
  database = "{db}"
  timeout = "1s"
"""


def gathered(truth):
    return {m.time: m.fields["used"] for m in file_metrics(truth)}


def outage(agent, server, truth, db: str) -> None:
    """Stop the server until the writer failed six times in a row (its next wait is drawn from
    [0, 32 s]: 1 s doubling), start it again: everything gathered arrives within seconds."""
    assert wait_until(lambda: len(influx_times_so_far(server, db)) >= 3, 15)
    server.stop()
    assert wait_until(lambda: agent.stderr().count("still failing") >= 5, 90)
    server.start()
    waiting = gathered(truth)
    assert wait_until(lambda: influx_times_so_far(server, db).keys() >= waiting.keys(), 8), \
        "resumed within seconds, not at the next backoff"


def test_after_a_long_outage_delivery_resumes_within_seconds_of_the_servers_return(
        tmp_path, own_influx):
    own_influx.create_database("recovery")
    truth, spool = tmp_path / "truth.lp", tmp_path / "spool"
    config = CONFIG.format(spool=spool, truth=truth, url=own_influx.url, db="recovery").replace(
        "[agent]\n", "[agent]\n  debug = true\n")
    with AgentProcess(tmp_path, config) as agent:
        outage(agent, own_influx, truth, "recovery")
        agent.terminate()
    assert influx_times(own_influx, "recovery") == gathered(truth)


def test_behind_a_gateway_the_probe_waits_for_a_2xx_ping(tmp_path, own_influx):
    """A proxy answers 502 while InfluxDB is down: probes (counted by the proxy) go on about
    once a second and end the wait only when /ping gets through again."""
    own_influx.create_database("gateway")
    truth, spool = tmp_path / "truth.lp", tmp_path / "spool"
    with InfluxProxy(own_influx.url) as proxy:
        config = CONFIG.format(spool=spool, truth=truth, url=proxy.url, db="gateway").replace(
            "[agent]\n", "[agent]\n  debug = true\n")
        with AgentProcess(tmp_path, config) as agent:
            outage(agent, own_influx, truth, "gateway")
            agent.terminate()
        probes = proxy.requests["/ping"]
    assert probes >= 3, "the writer probed through the gateway while InfluxDB was down"
    assert influx_times(own_influx, "gateway") == gathered(truth)


def test_sigterm_ends_a_long_backoff_with_one_immediate_attempt(tmp_path, influxdb1):
    influxdb1.create_database("last_try")
    truth, spool = tmp_path / "truth.lp", tmp_path / "spool"
    with InfluxProxy(influxdb1.url) as proxy:
        proxy.refuse = (503, {"Retry-After": "3600"})  # come back in an hour
        config = CONFIG.format(spool=spool, truth=truth, url=proxy.url, db="last_try")
        with AgentProcess(tmp_path, config) as agent:
            assert wait_until(lambda: proxy.requests["/write"] >= 1, 15)
            assert wait_until(lambda: len(spooled_lines_so_far(spool)) >= 10, 15)
            proxy.refuse = None  # the server is fine again; the writer waits for its hour
            agent.terminate(timeout=30)
    assert spooled_lines(spool) == [], agent.stderr()
    assert influx_times(influxdb1, "last_try") == gathered(truth)
    assert "not delivered at shutdown" not in agent.stderr()
