"""Aggregation windows as Telegraf computes them (agent/agent.go updateWindow, models/
running_aggregator.go Push), in integer nanoseconds.

Telegraf truncates with Go's time.Truncate, which counts from Go's zero time (0001-01-01 UTC),
not from the Unix epoch. The two agree for every period that divides a day (so period = "24h"
ends at UTC midnight and "1h" on the hour); a "168h" window starts on Mondays at 00:00 UTC
(0001-01-01 was a Monday), where InfluxQL's GROUP BY time(7d) starts on Thursdays.
"""

from __future__ import annotations

from typing import NamedTuple

NS = 1_000_000_000
GO_ZERO_TO_UNIX_NS = 62_135_596_800 * NS  # from 0001-01-01T00:00:00Z to 1970-01-01T00:00:00Z


class Window(NamedTuple):
    """[start, end]: it takes a metric stamped start - grace <= time <= end + delay."""

    start: int
    end: int


def truncate(time_ns: int, period: int) -> int:
    """Go's time.Truncate(period): down to a multiple of period counted from Go's zero time."""
    return time_ns - (time_ns + GO_ZERO_TO_UNIX_NS) % period


def align(time_ns: int, period: int) -> int:
    """Telegraf's internal.AlignTime: time itself when on a boundary, else the next boundary."""
    truncated = truncate(time_ns, period)
    return time_ns if truncated == time_ns else truncated + period


def first_window(now: int, period: int, round_interval: bool) -> Window:
    """The window at start (updateWindow): with round_interval, the one ending at the next
    boundary strictly after now; without, [now, now + period]."""
    if round_interval:
        end = align(now, period)
        if end == now:
            end = align(now + 1, period)
    else:
        end = now + period
    return Window(end - period, end)


def next_window(closing: Window, now: int, period: int) -> Window:
    """The window after `closing` (RunningAggregator.Push): the following one, unless now is
    not inside it (the clock was set or the machine slept): then the one around now."""
    start, end = closing.end, closing.end + period
    if now < start or now > end:
        start = truncate(now, period)
        end = start + period
    return Window(start, end)
