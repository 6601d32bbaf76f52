"""Every registered plugin is a folder, as Telegraf's are: agent/<kind>/<name>/ with __init__.py,
sample.conf (what `agent sample-config` prints) and README.md: what it does, Configuration (the
sample.conf verbatim), Metrics (every field's type), real Example Output in ```text blocks that
the strict parser takes, Troubleshooting, and where it differs from Telegraf. The sample.conf
passes `agent check` as written and with every commented setting switched on, and names every
option of the plugin's schema."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from agent.commands.catalog import package_of, registered, sample_config
from agent.lineprotocol.metric import Metric, field_kind
from agent.lineprotocol.parser import parse_metrics
from agent.plugin import registry
from agent.plugin.base import (
    COMMON_AGGREGATOR_OPTIONS,
    COMMON_INPUT_OPTIONS,
    COMMON_OUTPUT_OPTIONS,
)

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("Configuration", "Metrics", "Example Output", "Troubleshooting",
            "Where it differs from Telegraf")
TYPE_WORDS = {"int": "integer", "uint": "integer", "float": "float", "str": "string",
              "bool": "boolean"}
PLUGINS = list(registered())
COMMON_OPTIONS = {"inputs": COMMON_INPUT_OPTIONS, "outputs": COMMON_OUTPUT_OPTIONS,
                  "aggregators": COMMON_AGGREGATOR_OPTIONS}
# Inputs whose metrics are whatever their senders send: no field list of their own.
PASS_THROUGH = {"mqtt_consumer", "influxdb_listener", "influxdb_v2_listener", "http_listener_v2"}


def plugin_ids(plugin: Tuple[str, str]) -> str:
    return ".".join(plugin)


each_plugin = pytest.mark.parametrize("kind,name", PLUGINS, ids=[plugin_ids(p) for p in PLUGINS])


def folder(kind: str, name: str) -> Path:
    return REPO / "agent" / kind / name


def readme(kind: str, name: str) -> str:
    return (folder(kind, name) / "README.md").read_text(encoding="utf-8")


def split_sections(text: str) -> Tuple[str, Dict[str, str]]:
    """(the text before the first `## ` heading, {heading: body}); fenced code is never a
    heading, even when a line in it starts with ##."""
    intro: List[str] = []
    bodies: Dict[str, List[str]] = {}
    current = intro
    fenced = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            heading = line[3:].strip()
            assert heading not in bodies, f"section {heading!r} twice"
            current = bodies.setdefault(heading, [])
            continue
        current.append(line)
    return "\n".join(intro), {heading: "\n".join(body) for heading, body in bodies.items()}


def fenced_blocks(text: str) -> List[Tuple[str, str]]:
    """(info string, content) of every fenced code block in text."""
    blocks = []
    pattern = re.compile(r"^(\s*)```(\S*)\n(.*?)^\1```\s*$", re.S | re.M)
    for match in pattern.finditer(text):
        indent = match.group(1)
        lines = [line[len(indent):] for line in match.group(3).splitlines()]
        blocks.append((match.group(2), "\n".join(lines)))
    return blocks


def switched_on(sample: str) -> str:
    """The sample with every commented setting (`# key = ...`, `# [[table]]`) uncommented;
    `##` lines are prose and the first line is the description."""
    description, rest = sample.split("\n", 1)
    lines = [re.sub(r"^(\s*)# ?", r"\1", line) if re.match(r"\s*#(?!#)", line) else line
             for line in rest.splitlines()]
    return description + "\n" + "\n".join(lines) + "\n"


def agent_check(tmp_path: Path, kind: str, text: str) -> subprocess.CompletedProcess:
    if kind != "inputs":
        text += "\n[[inputs.mem]]\n"  # a config needs an input
    path = tmp_path / "sample.toml"
    path.write_text(text, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("INFLUX_")}
    return subprocess.run([sys.executable, "-m", "agent", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60, env=env)


def example_metrics(kind: str, name: str) -> List[Metric]:
    _, sections = split_sections(readme(kind, name))
    # ```text blocks are the output; others (the ```toml that made it) are context.
    blocks = [content for info, content in fenced_blocks(sections["Example Output"])
              if info == "text"]
    assert blocks, "Example Output has no ```text block"
    text = "\n".join(blocks)
    return parse_metrics(text + "\n")


def documented_measurements(metrics_section: str) -> set:
    """Names the Metrics section writes as code: the measurements it documents among them."""
    return set(re.findall(r"`([^`\s]+)`", metrics_section))


def documented_types(metrics_section: str) -> Dict[str, set]:
    """field -> the type words of the Metrics table rows whose first cell names it."""
    documented: Dict[str, set] = {}
    for line in metrics_section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 2:
            continue
        types = {cell for cell in cells[1:] if cell in TYPE_WORDS.values()}
        for field in re.findall(r"`([^`]+)`", cells[0]):
            documented.setdefault(field, set()).update(types)
    return documented


def test_the_registries_hold_plugins():
    assert {kind for kind, _ in PLUGINS} >= {"inputs", "outputs"}
    assert len(PLUGINS) >= 7


@each_plugin
def test_a_folder_of_its_own(kind, name):
    assert package_of(kind, name) == f"agent.{kind}.{name}"
    for file in ("__init__.py", "README.md", "sample.conf"):
        assert (folder(kind, name) / file).is_file(), f"agent/{kind}/{name}/{file} is missing"


@each_plugin
def test_readme_has_the_sections_in_order(kind, name):
    text = readme(kind, name)
    title = text.splitlines()[0]
    assert title.startswith("# ") and f"`{kind}.{name}`" in title, title
    intro, sections = split_sections(text)
    assert len(intro.split()) > 12, "say what it collects or does before the first section"
    present = [heading for heading in sections if heading in SECTIONS]
    assert present == list(SECTIONS), f"sections {list(sections)}; need {SECTIONS} in order"
    for heading in SECTIONS:
        assert sections[heading].strip(), f"section {heading!r} is empty"


@each_plugin
def test_readme_configuration_is_the_sample_conf(kind, name):
    _, sections = split_sections(readme(kind, name))
    blocks = fenced_blocks(sections["Configuration"])
    assert blocks and blocks[0][0] == "toml", "Configuration starts with a ```toml block"
    assert blocks[0][1] + "\n" == sample_config(kind, name)


@each_plugin
def test_sample_conf_describes_and_declares_the_plugin(kind, name):
    sample = sample_config(kind, name)
    assert sample.endswith("\n") and not sample.endswith("\n\n")
    description, rest = sample.split("\n", 1)
    assert re.fullmatch(r"# \S.{10,98}", description), f"first line {description!r}"
    assert rest.startswith(f"[[{kind}.{name}]]\n")


@each_plugin
def test_sample_conf_passes_agent_check(tmp_path, kind, name):
    sample = sample_config(kind, name)
    check = agent_check(tmp_path, kind, sample)
    assert check.returncode == 0 and "E!" not in check.stderr, f"{sample}\n{check.stderr}"
    # Every commented setting switched on is a valid setting too; only the example files it
    # names (tls_ca = "/etc/agent/ca.pem") need not exist here.
    check = agent_check(tmp_path, kind, switched_on(sample))
    problems = [line for line in check.stderr.splitlines() if " E! " in line
                and not example_file_missing(line, sample)]
    assert problems == [], "\n".join(problems)


def example_file_missing(problem: str, sample: str) -> bool:
    missing = re.search(r": '([^']+)': no such file$", problem)
    return bool(missing) and f'"{missing.group(1)}"' in sample


@each_plugin
def test_sample_conf_names_every_option(kind, name):
    tables = tomllib.loads(switched_on(sample_config(kind, name)))[kind][name]
    assert len(tables) == 1
    named = set(tables[0])
    schema = {option.name for option in registry.load(kind, name).options}
    assert schema - named == set(), f"options missing from sample.conf: {schema - named}"
    common = {option.name for option in COMMON_OPTIONS[kind]}  # aggregators show period...
    assert named - schema - common == set(), f"not options of {kind}.{name}: {named - schema}"


@each_plugin
def test_example_output_is_line_protocol(kind, name):
    metrics = example_metrics(kind, name)  # the strict parser raises on any bad line
    assert metrics and all(metric.fields for metric in metrics)


@pytest.mark.parametrize("kind,name", [p for p in PLUGINS if p[0] == "inputs"],
                         ids=[plugin_ids(p) for p in PLUGINS if p[0] == "inputs"])
def test_metrics_document_every_example_field_with_its_type(kind, name):
    """For every measurement the Metrics section names; what an input passes through from a
    payload or a device (mqtt_consumer, serial text lines, listeners) has no schema of ours."""
    _, sections = split_sections(readme(kind, name))
    documented = documented_types(sections["Metrics"])
    measurements = documented_measurements(sections["Metrics"])
    checked = [m for m in example_metrics(kind, name) if m.name in measurements]
    assert checked or kind == "inputs" and name in PASS_THROUGH, \
        "the Metrics section names none of the Example Output's measurements"
    missing = set()
    for metric in checked:
        for field, value in metric.fields.items():
            if TYPE_WORDS[field_kind(value)] not in documented.get(field, ()):
                missing.add(f"{metric.name}.{field} ({TYPE_WORDS[field_kind(value)]})")
    assert not missing, f"not in a Metrics table with that type: {sorted(missing)}"


def test_the_helpers_see_what_they_should():
    """The parsers above, on text made to trip them: a heading inside a code block, an indented
    block, a commented table."""
    text = "# t\nintro\n## A\n```toml\n## not a heading\n```\n## B\n  ```text\n  m v=1i 1\n  ```\n"
    intro, sections = split_sections(text)
    assert intro == "# t\nintro" and list(sections) == ["A", "B"]
    assert fenced_blocks(sections["A"]) == [("toml", "## not a heading")]
    assert fenced_blocks(sections["B"]) == [("text", "m v=1i 1")]
    sample = "# d\n[[inputs.x]]\n  ## prose\n  # a = 1\n  # [[inputs.x.q]]\n  #   b = 2\n"
    assert switched_on(sample) == "# d\n[[inputs.x]]\n  ## prose\n  a = 1\n  [[inputs.x.q]]\n" \
                                  "    b = 2\n"
    assert documented_types("| `a`, `b` | integer | bytes |\n| c | float |") == {
        "a": {"integer"}, "b": {"integer"}}
    assert documented_measurements("Measurement `mem`, tags `server` and `db`") == {
        "mem", "server", "db"}
    assert example_file_missing("E! x.toml: [outputs.x] tls_ca: '/etc/ca.pem': no such file",
                                '  # tls_ca = "/etc/ca.pem"\n')
    assert not example_file_missing("E! x.toml: [outputs.x] tls_ca: '/a.pem': no such file",
                                    '  # tls_ca = "/etc/ca.pem"\n')
