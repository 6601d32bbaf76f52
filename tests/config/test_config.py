"""Config: Telegraf's language, ${VAR} expansion, and every problem reported at once."""

import subprocess
import sys

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import load, parse
from agent.config.source import DEFAULT_LABEL
from agent.plugin.options import parse_duration
from agent.plugin.registry import INPUTS


def agent_check(*args, env=None):
    return subprocess.run([sys.executable, "-m", "agent", "check", *args],
                          capture_output=True, text=True, env=env, timeout=30)


@pytest.mark.parametrize("text,seconds", [
    ("10s", 10), ("1m30s", 90), ("500ms", 0.5), ("1.5h", 5400), ("2d", 172800), ("10", 10),
    ("100us", 1e-4), ("1h2m3s", 3723),
])
def test_durations_as_telegraf_writes_them(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["10 s", "s", "10x", "1m30", "-5s", "ten"])
def test_bad_durations_are_rejected(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_env_is_expanded_after_parsing_so_values_cannot_inject_toml():
    env = {"TAG": 'x"\n[[inputs.evil]]'}
    config = parse('[global_tags]\nsite = "${TAG}"\n[[inputs.mem]]\n', "t.toml", env)
    assert config.global_tags == {"site": 'x"\n[[inputs.evil]]'}
    assert [p.name for p in config.inputs] == ["mem"]


def test_full_config_values_and_defaults():
    text = """
[agent]
  interval = "2s"
  round_interval = false
  metric_batch_size = 50
  hostname = "pi-kitchen"
[global_tags]
  site = "${SITE}"
[[inputs.mem]]
  interval = "500ms"
  name_prefix = "pi_"
  alias = "ram"
  [inputs.mem.tags]
    role = "sensor"
[[outputs.file]]
  files = ["stdout", "/tmp/x.lp"]
"""
    config = parse(text, "pi.toml", {"SITE": "oyama-4"})
    assert config.agent["interval"] == 2.0
    assert config.agent["round_interval"] is False
    assert config.agent["flush_interval"] == 10.0
    assert config.agent["metric_batch_size"] == 50
    assert config.global_tags == {"site": "oyama-4"}
    (mem,) = config.inputs
    assert mem.common["interval"] == 0.5
    assert mem.common["tags"] == {"role": "sensor"}
    assert mem.label == "inputs.mem::ram"
    assert mem.options == {"collect_extended": False}
    assert config.outputs[0].options["files"] == ["stdout", "/tmp/x.lp"]


def test_every_problem_is_reported_at_once():
    text = """
[agent]
  interval = "10x"
  colection_jitter = "1s"
[[inputs.mem]]
  collect_extended = "yes"
[[inputs.cpu]]
[[outputs.file]]
  files = "stdout"
  data_format = "json"
[processors]
"""
    with pytest.raises(ConfigError) as caught:
        parse(text, "/etc/agent/ram.toml", {})
    problems = caught.value.problems
    assert problems == [
        "/etc/agent/ram.toml: [agent] interval: invalid duration '10x' "
        '(use Go durations like "10s", "1m30s", "500ms")',
        "/etc/agent/ram.toml: [agent] colection_jitter: unknown option 'colection_jitter'; "
        "did you mean 'collection_jitter'?",
        "/etc/agent/ram.toml: [inputs.mem] collect_extended: expected true or false, "
        "got string 'yes'",
        "/etc/agent/ram.toml: [inputs.cpu]: unknown input plugin 'cpu' "
        f"(available: {', '.join(sorted(INPUTS))})",
        "/etc/agent/ram.toml: [outputs.file] files: expected a list of strings, "
        "got string 'stdout'",
        "/etc/agent/ram.toml: [outputs.file] data_format: must be one of 'influx', got 'json'",
        "/etc/agent/ram.toml: [processors]: Telegraf processors are not supported by agent",
    ]


def test_second_instance_of_a_plugin_is_numbered():
    text = "[[inputs.mem]]\n[[inputs.mem]]\ncollect_extended = 1\n"
    with pytest.raises(ConfigError) as caught:
        parse(text, "c.toml", {})
    assert caught.value.problems == [
        "c.toml: [inputs.mem #2] collect_extended: expected true or false, got integer 1"]


def test_telegraf_agent_keys_we_do_not_use_are_warnings_not_errors():
    config = parse('[agent]\nlogfile = ""\nlogtarget = "stderr"\n[[inputs.mem]]\n', "t.toml", {})
    assert config.warnings == [
        "t.toml: [agent] logfile: Telegraf option not used by agent",
        "t.toml: [agent] logtarget: Telegraf option not used by agent",
    ]


def test_no_config_is_the_embedded_default():
    config = load(None, {})
    assert config.source == DEFAULT_LABEL
    assert [p.name for p in config.inputs] == ["mem"]
    assert config.outputs[0].options["files"] == ["stdout"]
    assert config.agent["interval"] == 10.0


BROKEN = {
    "wrong type": ('[[inputs.mem]]\ncollect_extended = "yes"\n',
                   "[inputs.mem] collect_extended: expected true or false"),
    "unknown key": ("[[inputs.mem]]\nfoo = 1\n", "[inputs.mem] foo: unknown option 'foo'"),
    "unknown plugin": ("[[inputs.cpuz]]\n", "[inputs.cpuz]: unknown input plugin 'cpuz'"),
    "toml syntax": ("[[inputs.mem]\n", "TOML syntax error: "),
    "bad duration": ('[agent]\ninterval = "5 minutes"\n[[inputs.mem]]\n',
                     "[agent] interval: invalid duration '5 minutes'"),
    "unset required var": ('[[inputs.mem]]\n[[outputs.file]]\nfiles = ["${OUT:?where to}"]\n',
                           "[outputs.file] files: ${OUT} is not set: where to"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_agent_check_gives_one_line_reason_exit_78_no_traceback(tmp_path, name):
    text, expected = BROKEN[name]
    path = tmp_path / "broken.toml"
    path.write_text(text)
    result = agent_check("--config", str(path), env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 78
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert f"E! {path}: {expected}" in lines[0]
    assert "Traceback" not in result.stderr


def test_agent_check_missing_file(tmp_path):
    result = agent_check("--config", str(tmp_path / "nope.toml"))
    assert result.returncode == 78
    assert result.stderr.strip().endswith(f"E! {tmp_path / 'nope.toml'}: config file not found")
    assert "Traceback" not in result.stderr


def test_agent_check_ok(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text("[[inputs.mem]]\n")
    result = agent_check("--config", str(path))
    assert result.returncode == 0
    assert result.stdout == f"{path}: OK (1 input(s), 0 output(s))\n"
