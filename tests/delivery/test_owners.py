"""One owner per buffer directory: two processes never drain one spool. A second `agent write`
waits for the first and then sends its own lines (each line arrives once); `agent write` beside
a daemon on the same config gives up after shutdown_timeout naming the daemon's PID, and the
daemon delivers on undisturbed."""

from __future__ import annotations

import subprocess
import threading

from tests.delivery.proxy import InfluxProxy
from tests.delivery_helpers import (
    AGENT,
    AgentProcess,
    file_metrics,
    influx_times,
    influx_times_so_far,
    wait_until,
)

T0 = 1_700_000_000_000_000_000


def write_config(tmp_path, url: str, db: str, wait: str) -> str:
    path = tmp_path / "shared.toml"
    path.write_text(f'[agent]\n  buffer_directory = "{tmp_path / "spool"}"\n'
                    f'  shutdown_timeout = "{wait}"\n  metric_batch_size = 5000\n'
                    f'[[outputs.influxdb]]\n  urls = ["{url}"]\n  database = "{db}"\n')
    return str(path)


def test_two_concurrent_writes_on_one_spool_send_each_line_once(tmp_path, influxdb1):
    influxdb1.create_database("two_writes")
    with InfluxProxy(influxdb1.url) as proxy:
        config = write_config(tmp_path, proxy.url, "two_writes", "60s")
        inputs = ["".join(f"two,w={w} n={i}i {T0 + i}\n" for i in range(100_000))
                  for w in ("a", "b")]
        procs = [subprocess.Popen([*AGENT, "write", "--config", config], stdin=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in inputs]
        results = ["", ""]

        def feed(index: int) -> None:  # both at once: the one waiting must not block the other
            results[index] = procs[index].communicate(inputs[index].encode(), 180)[1].decode()

        feeders = [threading.Thread(target=feed, args=(i,)) for i in range(2)]
        for feeder in feeders:
            feeder.start()
        for feeder in feeders:
            feeder.join()
        counts = proxy.counts()
    assert [proc.returncode for proc in procs] == [0, 0], results
    sent = set(inputs[0].splitlines(keepends=True)) | set(inputs[1].splitlines(keepends=True))
    assert set(counts) == sent and len(sent) == 200_000
    assert max(counts.values()) == 1, "no line was sent twice"
    assert "ValueError" not in "".join(results)


def test_agent_write_beside_a_daemon_names_its_pid_and_the_daemon_delivers_on(
        tmp_path, influxdb1):
    influxdb1.create_database("beside")
    truth = tmp_path / "truth.lp"
    config = (f'[agent]\n  interval = "100ms"\n  flush_interval = "200ms"\n'
              f'  shutdown_timeout = "2s"\n  buffer_directory = "{tmp_path / "spool"}"\n'
              f'[[inputs.mem]]\n  fieldinclude = ["used"]\n'
              f'[[outputs.file]]\n  files = ["{truth}"]\n'
              f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n  database = "beside"\n')
    with AgentProcess(tmp_path, config) as daemon:
        assert wait_until(lambda: len(influx_times_so_far(influxdb1, "beside")) >= 5, 20)
        result = subprocess.run([*AGENT, "write", "--config", str(daemon.config_path)],
                                input=f"beside n=1i {T0}\n".encode(), capture_output=True,
                                timeout=60)
        errors = [line for line in result.stderr.decode().splitlines() if " E! " in line]
        before = len(influx_times(influxdb1, "beside"))
        assert wait_until(lambda: len(influx_times_so_far(influxdb1, "beside")) >= before + 5, 20)
        daemon.terminate()
    assert result.returncode == 75
    assert len(errors) == 1, errors
    assert (f"buffer_directory {tmp_path / 'spool'} is in use by PID {daemon.proc.pid} "
            "(agent run)") in errors[0] and "nothing was read" in errors[0]
    assert influxdb1.rows('SELECT * FROM "beside"', db="beside") == []
    gathered = {m.time: m.fields["used"] for m in file_metrics(truth)}
    assert influx_times(influxdb1, "beside") == gathered
    assert "Error" not in daemon.stderr() and "failed" not in daemon.stderr()


def test_a_second_daemon_on_the_directory_stops_with_one_line_naming_the_first(
        tmp_path, influxdb1):
    config = (f'[agent]\n  interval = "100ms"\n  shutdown_timeout = "1s"\n'
              f'  buffer_directory = "{tmp_path / "spool"}"\n'
              f'[[inputs.mem]]\n  fieldinclude = ["used"]\n'
              f'[[outputs.influxdb]]\n  urls = ["{influxdb1.url}"]\n  database = "second"\n')
    with AgentProcess(tmp_path, config) as first:
        assert wait_until(lambda: "Loaded inputs" in first.stderr(), 20)
        second = subprocess.run([*AGENT, "run", "--config", str(first.config_path)],
                                capture_output=True, timeout=60)
        assert first.proc.poll() is None
        first.terminate()
    errors = [line for line in second.stderr.decode().splitlines() if " E! " in line]
    assert second.returncode != 0 and len(errors) == 1, errors
    assert (f"buffer_directory {tmp_path / 'spool'} is in use by PID {first.proc.pid} "
            "(agent run)") in errors[0]
