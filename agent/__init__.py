"""agent: a Telegraf-compatible metrics agent (RAM, PostgreSQL, serial sensors)."""

__version__ = "0.1.0"
# The distribution's name on PyPI (pyproject.toml [project] name): install hints name it, e.g.
# "pip install 'agent[influx]'". Change it here when the distribution is renamed.
DISTRIBUTION = "agent"
