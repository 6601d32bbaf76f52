"""agent: a Telegraf-compatible metrics agent (RAM, PostgreSQL, serial sensors)."""

__version__ = "0.1.0"
