"""Aggregation windows as Telegraf aligns them: Go's Truncate counts from 0001-01-01 UTC."""

import datetime

import pytest

from agent.engine.windows import Window, first_window, next_window, truncate

NS = 1_000_000_000
UTC = datetime.timezone.utc
GO_ZERO = datetime.datetime(1, 1, 1, tzinfo=UTC)


def ns(*args) -> int:
    moment = datetime.datetime(*args, tzinfo=UTC)
    return int(moment.timestamp()) * NS


def utc(time_ns: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(time_ns // NS, UTC)


def test_a_day_ends_at_utc_midnight():
    window = first_window(ns(2024, 5, 17, 13, 45, 7) + 123, 86400 * NS, round_interval=True)
    assert (utc(window.start), utc(window.end)) == (
        datetime.datetime(2024, 5, 17, tzinfo=UTC), datetime.datetime(2024, 5, 18, tzinfo=UTC))


def test_an_hour_on_the_hour_and_exactly_on_a_boundary_the_next_window():
    window = first_window(ns(2024, 5, 17, 13, 0, 0), 3600 * NS, round_interval=True)
    assert utc(window.start) == datetime.datetime(2024, 5, 17, 13, tzinfo=UTC)
    assert window.end - window.start == 3600 * NS


def test_a_week_starts_on_monday_as_go_counts_from_year_one():
    window = first_window(ns(2024, 5, 17, 13, 45), 7 * 86400 * NS, round_interval=True)
    assert utc(window.start) == datetime.datetime(2024, 5, 13, tzinfo=UTC)
    assert utc(window.start).weekday() == 0  # Monday; the Unix epoch was a Thursday


@pytest.mark.parametrize("period_s", [7 * 60, 13, 90 * 60, 48 * 3600])
def test_periods_not_dividing_a_day_align_to_go_zero_time(period_s):
    start = truncate(ns(2024, 5, 17, 13, 45, 7), period_s * NS)
    since_year_one = utc(start) - GO_ZERO
    assert since_year_one.total_seconds() % period_s == 0
    assert 0 <= ns(2024, 5, 17, 13, 45, 7) - start < period_s * NS


def test_without_round_interval_the_window_starts_now():
    assert first_window(1234, 10 * NS, round_interval=False) == Window(1234, 1234 + 10 * NS)


def test_next_window_follows_or_jumps_to_now_after_a_clock_change():
    period = 10 * NS
    closing = Window(100 * NS, 110 * NS)
    assert next_window(closing, 110 * NS + 5, period) == Window(110 * NS, 120 * NS)
    assert next_window(closing, 555 * NS, period) == Window(550 * NS, 560 * NS)  # slept
    assert next_window(closing, 42 * NS, period) == Window(40 * NS, 50 * NS)  # set back

