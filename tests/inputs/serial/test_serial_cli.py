"""inputs.serial through the agent: config validation, lazy pyserial, `agent run` against
emulated sensors (own timestamps kept, counters in inputs.internal)."""

import os
import signal
import subprocess
import sys

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import parse
from agent.lineprotocol.parser import parse_metrics
from tests.serial_emulator import MHZ19, PMS5003, wait_for

AGENT = [sys.executable, "-m", "agent"]


def problems(text):
    with pytest.raises(ConfigError) as err:
        parse(text, "serial.toml")
    return err.value.problems


def test_config_problems_are_reported_all_at_once_with_their_keys():
    found = problems('[[inputs.serial]]\ndata_bits = 9\nstop_bits = 3\nparity = "X"\n'
                     'protocol = "lines"\nmode = "passive"\ndata_format = "regex"\n'
                     'regex = "(\\\\d+)"\nbaud = 9600\n')
    text = "\n".join(found)
    for key in ("port", "data_bits", "stop_bits", "parity", "mode", "regex", "baud"):
        assert f"[inputs.serial] {key}:" in text, text
    assert "did you mean 'baud_rate'" in text
    assert len(found) == 7


def test_a_valid_config_parses_with_defaults():
    config = parse('[[inputs.serial]]\nport = "/dev/serial0"\nprotocol = "mhz19"\n', "s.toml")
    options = config.inputs[0].options
    assert options["baud_rate"] == 9600 and options["timeout"] == 1.0 and options["mode"] == ""


def test_importing_the_input_does_not_import_pyserial():
    code = ("import sys, agent.inputs.serial, agent.commands.catalog\n"
            "assert 'serial' not in sys.modules, 'pyserial imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert result.returncode == 0, result.stderr


def run_agent(args, **kwargs):
    return subprocess.run([*AGENT, *args], capture_output=True, timeout=60, **kwargs)


def test_run_once_asks_an_mhz19_and_prints_its_reading(tmp_path):
    config = tmp_path / "co2.toml"
    with MHZ19(values=(612,)) as device:
        config.write_text(f'[agent]\nomit_hostname = true\n'
                          f'[[inputs.serial]]\nport = "{device.path}"\nprotocol = "mhz19"\n')
        result = run_agent(["run", "--once", "--config", str(config)])
    assert result.returncode == 0, result.stderr
    (metric,) = parse_metrics(result.stdout.decode())
    assert metric.name == "mhz19" and metric.fields == {"co2": 612}
    assert metric.tags == {"port": device.path}


def test_run_daemon_streams_pms5003_with_its_own_timestamps(tmp_path):
    out = tmp_path / "out.lp"
    config = tmp_path / "pms.toml"
    link = tmp_path / "serial0"
    with PMS5003(values=[range(12)], period=0.1) as device:
        os.symlink(device.path, link)
        config.write_text(
            '[agent]\ninterval = "1s"\nflush_interval = "1s"\nomit_hostname = true\n'
            f'[[inputs.serial]]\nport = "{link}"\nprotocol = "pms5003"\n'
            '[[inputs.internal]]\n'
            f'[[outputs.file]]\nfiles = ["{out}"]\n')
        agent = subprocess.Popen([*AGENT, "run", "--config", str(config)],
                                 stderr=subprocess.PIPE)
        try:
            assert wait_for(lambda: out.exists() and out.read_text().count("pms5003,") >= 10
                            and "internal_serial" in out.read_text(), timeout=20)
        finally:
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=10)
    assert agent.returncode == 0, stderr
    metrics = parse_metrics(out.read_text())
    pms = [m for m in metrics if m.name == "pms5003"]
    assert all(m.fields == dict(zip(PMS_FIELDS, range(12))) for m in pms)
    times = [m.time for m in pms]
    assert len(set(times)) == len(times)
    assert any(t % 1_000_000_000 for t in times)  # not rounded to the 1s interval
    internal = [m for m in metrics if m.name == "internal_serial"][-1]
    assert internal.fields["frames_ok"] >= 1 and internal.fields["read_errors"] == 0


PMS_FIELDS = ("pm1_0_cf1", "pm2_5_cf1", "pm10_cf1", "pm1_0", "pm2_5", "pm10", "gt0_3um",
              "gt0_5um", "gt1_0um", "gt2_5um", "gt5_0um", "gt10um")


def test_readings_since_the_last_gather_are_written_at_shutdown(tmp_path):
    out = tmp_path / "out.lp"
    config = tmp_path / "pms.toml"
    with PMS5003(values=[range(12)], period=0.05) as device:
        config.write_text(
            '[agent]\ninterval = "1h"\nomit_hostname = true\n'
            f'[[inputs.serial]]\nport = "{device.path}"\nprotocol = "pms5003"\n'
            f'[[outputs.file]]\nfiles = ["{out}"]\n')
        agent = subprocess.Popen([*AGENT, "run", "--config", str(config)],
                                 stderr=subprocess.PIPE)
        try:
            assert wait_for(lambda: device.received, timeout=20)  # it opened: set active mode
            opened = device.streamed
            # Frames stream in (the first gather is at least 36 s away: interval/100).
            assert wait_for(lambda: device.streamed >= opened + 10, timeout=20)
        finally:
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=10)
    assert agent.returncode == 0, stderr
    assert len([m for m in parse_metrics(out.read_text()) if m.name == "pms5003"]) >= 2
