"""Environment variables exactly as Telegraf's default (strict) mode: Telegraf's own test data
(tests/data/telegraf_envvar, with SOURCES.md), every operator, the quirks kept for parity, and
`agent check` naming an unset variable, never a value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import parse, tomllib
from agent.config.variables import expand_env, expand_value

DATA = Path(__file__).resolve().parent.parent / "data" / "telegraf_envvar"
EXPECTED = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))


def expand(text: str, env: Dict[str, str]) -> Tuple[str, List[str], List[Tuple[str, bool]]]:
    problems: List[str] = []
    unset: List[Tuple[str, bool]] = []
    value = expand_env(text, env, problems.append, lambda name, kept: unset.append((name, kept)))
    return value, problems, unset


@pytest.mark.parametrize("case", EXPECTED["strict"], ids=lambda c: c["name"])
def test_telegraf_testdata_loads_as_telegraf_loads_it(case):
    document = tomllib.loads((DATA / case["file"]).read_text(encoding="utf-8"))
    problems: List[str] = []
    expanded = expand_value(document, case["env"], problems.append)
    assert problems == []
    (table,) = expanded["inputs"]["memcached"]
    assert {key: table[key] for key in case["values"]} == case["values"]


def test_a_variable_cannot_inject_toml():
    """envvar_malicious.conf: the value holds a quote and a table header; still one input."""
    case = next(c for c in EXPECTED["strict"] if c["file"] == "envvar_malicious.conf")
    document = tomllib.loads((DATA / case["file"]).read_text(encoding="utf-8"))
    expanded = expand_value(document, case["env"], [].append)
    assert len(expanded["inputs"]["memcached"]) == 1


@pytest.mark.parametrize("case", EXPECTED["strict_refused"], ids=lambda c: c["name"])
def test_a_variable_outside_a_string_is_a_toml_error_as_in_telegraf(case):
    """`port = ${PORT}` is refused in strict mode ("invalid TOML syntax" in Telegraf)."""
    with pytest.raises(ConfigError, match="TOML syntax error"):
        parse((DATA / case["file"]).read_text(encoding="utf-8"), case["file"], case["env"])


def test_comments_and_hashes_in_strings_parse_as_telegraf_reads_them():
    comments = EXPECTED["comments"]
    with_comments = tomllib.loads((DATA / comments["file"]).read_text(encoding="utf-8"))
    without = tomllib.loads((DATA / comments["expected"]).read_text(encoding="utf-8"))
    assert with_comments == without
    assert with_comments["some"]["stuff"][0]["a"] == "not a #comment"


@pytest.mark.parametrize("case", EXPECTED["substitutions"], ids=lambda c: c["name"])
def test_telegraf_substitution_cases(case):
    value, problems, _ = expand(case["text"], case["env"])
    if "error" in case:
        assert len(problems) == 1 and case["error"] in problems[0]
    else:
        assert (value, problems) == (case["expected"], [])


ENV = {"SET": "value", "EMPTY": "", "OTHER": "other"}


@pytest.mark.parametrize("text,expected", [
    ("$SET", "value"), ("${SET}", "value"), ("${set}", "${set}"),  # names are case-sensitive
    ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"), ("${SET:-d}", "value"),
    ("${UNSET-d}", "d"), ("${EMPTY-d}", ""), ("${SET-d}", "value"),
    ("${UNSET:+alt}", ""), ("${EMPTY:+alt}", ""), ("${SET:+alt}", "alt"),
    ("${UNSET+alt}", ""), ("${EMPTY+alt}", "alt"), ("${SET+alt}", "alt"),
    ("${SET:?msg}", "value"), ("${SET?msg}", "value"), ("${EMPTY?msg}", ""),
    ("$$", "$"), ("$$SET", "$SET"), ("$${SET}", "${SET}"), ("a$", "a$"), ("$1", "$1"),
    ("${1}", "${1}"), ("${ SET}", "${ SET}"), ("${SET:x}", "${SET:x}"), ("${}", "${}"),
    ("${UNSET:-${OTHER}}", "other"), ("${UNSET:-$OTHER/x}", "other/x"),
    ("$SET-$OTHER", "value-other"), ("${SET}${OTHER}", "valueother"),
    # Telegraf's quirks, kept: a reference ends at the first } closing its ${ ...
    ("${UNSET:-a}b}", "ab}"),
    # ... text after an operator reference is expanded like a default (unset becomes "") ...
    ("${SET:-x} and ${UNSET}", "value and "),
    # ... and an invalid default keeps the whole reference, even when the variable is set.
    ("${SET:-${}", "${SET:-${}"),
])
def test_every_form(text, expected):
    value, problems, _ = expand(text, ENV)
    assert (value, problems) == (expected, [])


def test_an_undeclared_variable_keeps_its_reference_and_is_reported():
    assert expand("Token $INFLUX_TOKEN", {}) == ("Token $INFLUX_TOKEN", [],
                                                 [("INFLUX_TOKEN", True)])
    assert expand("${A}/${B:-b}", {}) == ("${A}/b", [], [("A", True)])
    assert expand("${SET:-x} ${GONE}", ENV)[2] == [("GONE", False)]  # emptied, not kept


@pytest.mark.parametrize("text,message", [
    ("${IV:?set IV}", "${IV} is not set: set IV"),
    ("${EMPTY:?set it}", "${EMPTY} is empty: set it"),
    ("${IV?}", "${IV} is required but not set"),
    ("${IV:?see $OTHER}", "${IV} is not set: see other"),
    # A } inside the message no longer cuts it short (Telegraf would say "set IV, e.g. {10s").
    ("${IV:?set IV, e.g. {10s}}", "${IV} is not set: set IV, e.g. {10s}"),
    ("x ${UNSET:-${IV:?inner}} y", "${IV} is not set: inner"),
])
def test_required_variables(text, message):
    value, problems, _ = expand(text, ENV)
    assert problems == [message]


def test_an_unset_required_variable_is_one_problem_not_two():
    """The issue: `interval = "${IV:?set IV}"` also said "must be at least 0.001, got ''"."""
    with pytest.raises(ConfigError) as caught:
        parse('[agent]\ninterval = "${IV:?set IV}"\n[[inputs.mem]]\n', "c.toml", {})
    assert caught.value.problems == ["c.toml: [agent] interval: ${IV} is not set: set IV"]


def test_only_string_values_are_expanded_never_keys():
    config = parse('[[inputs.mem]]\n[inputs.mem.tags]\n"$K" = "$V"\n', "c.toml", {"K": "k",
                                                                                 "V": "v"})
    assert config.inputs[0].common["tags"] == {"$K": "v"}


def agent_check(config: Path, env: Dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agent", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})


def test_agent_check_warns_naming_the_unset_variable_never_a_value(tmp_path):
    path = tmp_path / "v2.toml"
    path.write_text('[global_tags]\nsite = "$SITE"\n[[inputs.mem]]\n'
                    '[[outputs.influxdb_v2]]\nurls = ["http://127.0.0.1:1"]\n'
                    'token = "$INFLUX_TOKEN"\norganization = "${ORG}"\nbucket = "b"\n')
    result = agent_check(path, {"ORG": "org-Secret-77", "SITE": "site-Secret-88"})
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if " W! " in line]
    assert f"{path}: [outputs.influxdb_v2] token: environment variable INFLUX_TOKEN is not " \
           f"set" in warning
    assert "Secret" not in result.stdout + result.stderr


def test_a_dollar_word_inside_a_secret_is_not_shown(tmp_path):
    """password = "pa$word": `word` may be part of the password, so it is not named."""
    path = tmp_path / "v1.toml"
    path.write_text('[[inputs.mem]]\n[[outputs.influxdb]]\nurls = ["http://127.0.0.1:1"]\n'
                    'password = "Hunter$twoSecret"\n')
    result = agent_check(path, {})
    assert result.returncode == 0, result.stderr
    assert "[outputs.influxdb] password: a $ reference in this secret" in result.stderr
    assert "twoSecret" not in result.stderr


def test_a_byte_order_mark_is_ignored_as_telegraf_does():
    config = parse("\ufeff[[inputs.mem]]\n", "bom.toml", {})
    assert [p.name for p in config.inputs] == ["mem"]
