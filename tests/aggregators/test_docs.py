"""Each aggregator's folder: README.md with the sections, sample.conf verbatim in it and valid,
every option in sample.conf, and an Example Output that our strict parser reads."""

import re
from pathlib import Path

import pytest

from agent.config.loader import parse
from agent.lineprotocol.parser import parse_metrics
from agent.plugin import registry
from agent.plugin.base import COMMON_AGGREGATOR_OPTIONS

ROOT = Path(__file__).resolve().parents[2] / "agent" / "aggregators"
SECTIONS = ("## Configuration", "## Metrics", "## Example Output", "## Troubleshooting",
            "## Where it differs from Telegraf")
FILTERS_SHOWN_ONCE = {"fieldpass", "fielddrop"}  # old names of fieldinclude / fieldexclude


@pytest.mark.parametrize("name", sorted(registry.AGGREGATORS))
def test_readme_sample_conf_and_example_output(name):
    folder = ROOT / name
    readme, sample = (folder / "README.md").read_text(), (folder / "sample.conf").read_text()
    plugin = registry.load("aggregators", name)
    assert plugin.sample_config == sample
    assert f"```toml\n{sample}```" in readme
    for section in SECTIONS:
        assert section in readme, section
    parse("[[inputs.mem]]\n" + sample, "sample.conf", {})
    enabled = re.sub(r"^(\s*)# (\w+ = )", r"\1\2", sample, flags=re.M)  # uncomment the keys
    (table,) = parse("[[inputs.mem]]\n" + enabled, "sample.conf", {}).aggregators
    for option in (*plugin.options, *COMMON_AGGREGATOR_OPTIONS):
        if option.name not in FILTERS_SHOWN_ONCE:
            assert re.search(rf"\b{option.name}\b", sample), option.name
    assert table.name == name
    output = readme.split("## Example Output", 1)[1].split("\n## ", 1)[0]
    lines = [line for block in re.findall(r"```text\n(.*?)```", output, re.S)
             for line in block.splitlines() if not line.startswith("I! ")]
    assert len(parse_metrics("\n".join(lines) + "\n")) == len(lines) >= 4
