"""The sub-commands behind agent/cli.py: run (the daemon), execd, write, plugins and
sample-config."""
