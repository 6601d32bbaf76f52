"""A listener that cannot listen (its port taken) stops the agent with exit code 1 and one
line naming the input, as Telegraf does ("Error running agent: starting input ..."): under
agent@.service systemd starts it again in 5 s, under Telegraf's execd Telegraf does; never a
process that looks healthy and takes no data. At a reload too, after what the old config
acknowledged is kept."""

from __future__ import annotations

import signal
import socket
import subprocess

import pytest

from tests.delivery_helpers import AGENT, AgentProcess
from tests.listener_helpers import file_output, request, wait_lines
from tests.servers import LOCALHOST, free_port, port_open, wait_until

LINE = b"weather,site=a temp=21.5 1700000000000000000\n"


@pytest.fixture
def taken_port():
    holder = socket.socket()
    holder.bind((LOCALHOST, 0))
    holder.listen()
    yield holder.getsockname()[1]
    holder.close()


def listener(port: int) -> str:
    return ('[agent]\n  omit_hostname = true\n'
            f'[[inputs.influxdb_v2_listener]]\n  service_address = "{LOCALHOST}:{port}"\n')


def only_error_lines(stderr: str) -> list:
    return [line for line in stderr.splitlines() if " E! " in line or line.startswith("E! ")]


@pytest.mark.parametrize("command", ["run", "execd"])
def test_a_listener_whose_port_is_taken_stops_the_agent_with_exit_1(tmp_path, taken_port,
                                                                   command):
    config = tmp_path / "agent.toml"
    config.write_text(listener(taken_port) + "[[inputs.mem]]\n" + file_output(tmp_path / "out"))
    done = subprocess.run([*AGENT, command, "--config", str(config)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    errors = only_error_lines(done.stderr)
    assert len(errors) == 1, done.stderr
    assert (f"Error running agent: starting input inputs.influxdb_v2_listener: cannot listen "
            f"on {LOCALHOST}:{taken_port}:") in errors[0]
    assert "Address already in use" in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == "", "stdout carries line protocol only"


def test_a_reload_onto_a_taken_port_exits_1_with_what_was_acknowledged_kept(tmp_path,
                                                                            taken_port):
    port, out = free_port(), tmp_path / "out"
    with AgentProcess(tmp_path, listener(port) + file_output(out)) as agent:
        wait_until(lambda: port_open(port), 30, "listener", agent.proc)
        assert request(port, "POST", "/api/v2/write?bucket=b", LINE).status == 204
        agent.config_path.write_text(listener(taken_port) + file_output(out))
        agent.proc.send_signal(signal.SIGHUP)
        assert agent.proc.wait(60) == 1, agent.stderr()
        errors = only_error_lines(agent.stderr())
        assert len(errors) == 1 and "starting input inputs.influxdb_v2_listener" in errors[0]
        assert not port_open(port), "the old listener is closed"
    assert wait_lines(out, 1) == [LINE.decode().strip()]
