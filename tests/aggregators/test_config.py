"""[[aggregators.X]] in the config: validated like inputs and outputs, all problems at once."""

import subprocess
import sys

import pytest

from agent.config.errors import ConfigError
from agent.config.loader import parse


def problems(text):
    with pytest.raises(ConfigError) as err:
        parse(text, "agg.toml", {})
    return err.value.problems


def test_common_options_take_telegrafs_defaults():
    config = parse("[[inputs.mem]]\n[[aggregators.basicstats]]\n[[aggregators.minmax]]\n",
                   "agg.toml", {})
    basic, minmax = config.aggregators
    assert (basic.name, minmax.name) == ("basicstats", "minmax")
    assert basic.common["period"] == 30.0 and basic.common["delay"] == 0.1
    assert basic.common["grace"] == 0.0 and basic.common["drop_original"] is False
    assert basic.options["stats"] is None  # unset: the default stats


def test_every_option_and_filter_is_accepted():
    config = parse('''
[[inputs.mem]]
[[aggregators.basicstats]]
  period = "24h"
  delay = "1s"
  grace = "10m"
  drop_original = true
  stats = ["count", "min", "max", "mean", "s2", "stdev", "sum", "diff", "non_negative_diff",
           "rate", "non_negative_rate", "percent_change", "interval", "last", "first"]
  name_override = "x"
  name_prefix = "p_"
  name_suffix = "_daily"
  alias = "daily"
  max_series = 50
  namepass = ["climate"]
  namedrop = ["mem"]
  fieldinclude = ["co2"]
  fieldexclude = ["rh"]
  taginclude = ["room"]
  tagexclude = ["host"]
  [aggregators.basicstats.tagpass]
    room = ["lab*"]
  [aggregators.basicstats.tagdrop]
    room = ["attic"]
  [aggregators.basicstats.tags]
    rollup = "1d"
''', "agg.toml", {})
    (daily,) = config.aggregators
    assert daily.common["period"] == 86400.0 and daily.common["grace"] == 600.0
    assert daily.common["tags"] == {"rollup": "1d"}
    assert daily.label == "aggregators.basicstats::daily"


def test_unknown_keys_wrong_types_and_unknown_stats_are_all_reported():
    found = problems('''
[[inputs.mem]]
[[aggregators.basicstats]]
  period = 30
  perod = "30s"
  grace = "soon"
  drop_original = "yes"
  stats = ["count", "variance", "median"]
  tags = {rollup = 1}
[[aggregators.minmax]]
  stats = ["min"]
  period = "0s"
[[aggregators.histogram]]
''')
    text = "\n".join(found)
    assert "[aggregators.basicstats] perod: unknown option 'perod'" in text
    assert "[aggregators.basicstats] grace: invalid duration 'soon'" in text
    assert "[aggregators.basicstats] drop_original: expected true or false" in text
    assert '[aggregators.basicstats] stats: unknown stat "variance": the variance is "s2"' in text
    assert "[aggregators.basicstats] stats: unknown stat 'median'" in text
    assert "[aggregators.basicstats] tags: expected a table of strings" in text
    assert "[aggregators.minmax] stats: unknown option 'stats'" in text
    assert "[aggregators.minmax] period: must be at least 1ms, got '0s'" in text
    assert "[aggregators.histogram]: unknown aggregator plugin 'histogram' (available: " \
           "basicstats, minmax)" in text
    assert len(found) == 9, found  # period = 30 is 30 s, like any duration given as a number


def test_agent_check_exits_78_listing_every_problem(tmp_path):
    path = tmp_path / "agg.toml"
    path.write_text('[[inputs.mem]]\n[[aggregators.basicstats]]\nstats = ["mode"]\n'
                    'bogus = 1\n')
    result = subprocess.run([sys.executable, "-m", "agent", "check", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 78
    assert "stats: unknown stat 'mode'" in result.stderr
    assert "bogus: unknown option" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugins_lists_aggregators_and_sample_config_shows_them_disabled(tmp_path):
    listing = subprocess.run([sys.executable, "-m", "agent", "plugins"], capture_output=True,
                             text=True, timeout=60)
    assert "aggregators.basicstats: " in listing.stdout
    assert "aggregators.minmax: " in listing.stdout
    assert "    stats [str_list]" in listing.stdout
    assert "common aggregator options: period, delay, grace, drop_original" in listing.stdout
    sample = subprocess.run([sys.executable, "-m", "agent", "sample-config"],
                            capture_output=True, text=True, timeout=60).stdout
    assert "# [[aggregators.basicstats]]" in sample and "# [[aggregators.minmax]]" in sample
    enabled = sample.replace("# [[aggregators.", "[[aggregators.")
    config = parse(enabled, "sample", {})
    assert [a.name for a in config.aggregators] == ["basicstats", "minmax"]
