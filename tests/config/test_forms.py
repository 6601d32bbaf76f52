"""Option kinds and forms: URLs, host:port addresses, HTTP headers, bounds, empty values."""

from __future__ import annotations

import pytest

from agent.plugin.durations import describe_duration
from agent.plugin.forms import check_address, check_header, check_url
from agent.plugin.options import Option

SCHEMES = ("http", "https")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8086", "https://eu-central-1-1.aws.cloud2.influxdata.com",
    "http://[::1]:8086/prefix", "http://user:pw@host", "HTTP://HOST:1", "http://h:65535",
])
def test_urls_that_work(url):
    check_url(url, SCHEMES)


@pytest.mark.parametrize("url,reason", [
    ("not a url", "is not a URL"), ("", "is not a URL"), ("127.0.0.1:8086", "is not a URL"),
    ("ftp://h/x", "scheme ftp:// is not supported (use http:// or https://)"),
    ("udp://h:8089", "scheme udp:// is not supported"), ("http://", "has no host"),
    ("http://h:99999", "the port must be a number 1-65535"),
    ("http://h:0", "the port must be a number 1-65535"),
    ("http://h:x", "the port must be a number 1-65535"),
    ("http://[::1", "is not a URL"), ("http://h /x", "is not a URL"),
])
def test_urls_that_cannot_work(url, reason):
    with pytest.raises(ValueError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        check_url(url, SCHEMES)


@pytest.mark.parametrize("address", [":8186", "127.0.0.1:8086", "[::]:8086", "host:1"])
def test_addresses(address):
    check_address(address)


@pytest.mark.parametrize("address", ["8186", ":0", ":65536", ":x", "host:", "[::1:80", "a b:1"])
def test_bad_addresses(address):
    with pytest.raises(ValueError):
        check_address(address)


def test_headers():
    check_header("X-Special-Header", "Special-Value")
    for name, value in (("X Bad", "v"), ("", "v"), ("X:y", "v"), ("X", "a\r\nInjected: 1")):
        with pytest.raises(ValueError):
            check_header(name, value)


def test_bounds_and_empty_values():
    timeout = Option("timeout", "duration", 5.0, minimum=0.001, maximum=300.0,
                     empty_is_default=True)
    assert timeout.convert("0s") == 5.0 and timeout.convert("") == 5.0
    assert timeout.convert("250ms") == 0.25
    with pytest.raises(ValueError, match="must be at most 5m, got '6m'"):
        timeout.convert("6m")
    with pytest.raises(ValueError, match="must be at least 1ms"):
        timeout.convert("1us")
    plain = Option("interval", "duration", 10.0)
    with pytest.raises(ValueError, match="must be at most 8760h"):
        plain.convert("8761h")
    with pytest.raises(ValueError, match="expected a duration"):
        plain.convert(float("nan"))
    count = Option("n", "int", 1)
    with pytest.raises(ValueError, match="must be at most 9_223_372_036_854_775_807"):
        count.convert(2 ** 63)
    urls = Option("urls", "url_list", ["http://localhost:8086"], empty_is_default=True)
    assert urls.convert([]) == ["http://localhost:8086"]
    assert urls.convert([]) is not urls.default  # a copy, never the shared default
    with pytest.raises(ValueError, match="must not contain a NUL"):
        Option("s", "str").convert("a\x00b")
    assert Option("flag", "bool", True, empty_is_default=True).convert(False) is False


@pytest.mark.parametrize("seconds,text", [
    (8760 * 3600, "8760h"), (90, "1m30s"), (0.001, "1ms"), (300, "5m"), (0, "0s"),
    (596 * 3600, "596h"), (3723.5, "1h2m3.5s"),
])
def test_durations_are_described_as_telegraf_users_write_them(seconds, text):
    assert describe_duration(seconds) == text
