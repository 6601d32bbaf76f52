"""Aggregators (Telegraf's [[aggregators.X]]): summaries of the metrics of each window.

One folder per plugin (basicstats, minmax) with README.md and sample.conf; series.py holds what
they share. Windows, filters, pushes and the state kept across restarts are the engine's
(agent/engine/aggregation.py)."""
