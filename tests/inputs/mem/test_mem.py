"""Golden tests for inputs.mem from real /proc/meminfo samples (see tests/data/meminfo/SOURCES.md).

Every expected value below was computed outside the agent code, by following gopsutil v4
(mem/mem_linux.go fillFromMeminfoWithContext, calculateAvailVmem) and Telegraf's
plugins/inputs/mem: sizes are kB * 1024, HugePages_* are page counts, cached is
Cached + SReclaimable, used is total - available, a key the kernel does not print is 0, and the
percentages are Telegraf's 100*float64(x)/float64(total), not gopsutil's x/total*100.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict

import pytest

from agent.inputs.mem import MemInput
from agent.lineprotocol.metric import UInt
from agent.lineprotocol.parser import parse_metrics
from agent.lineprotocol.serializer import Serializer

DATA = Path(__file__).resolve().parents[2] / "data" / "meminfo"

TELEGRAF_FIELDS = (
    "active",
    "available",
    "available_percent",
    "buffered",
    "cached",
    "commit_limit",
    "committed_as",
    "dirty",
    "free",
    "high_free",
    "high_total",
    "huge_page_size",
    "huge_pages_free",
    "huge_pages_total",
    "inactive",
    "low_free",
    "low_total",
    "mapped",
    "page_tables",
    "shared",
    "slab",
    "sreclaimable",
    "sunreclaim",
    "swap_cached",
    "swap_free",
    "swap_total",
    "total",
    "used",
    "used_percent",
    "vmalloc_chunk",
    "vmalloc_total",
    "vmalloc_used",
    "write_back",
    "write_back_tmp",
)
FLOAT_FIELDS = ("available_percent", "used_percent")
EXTENDED_FIELDS = (
    "active_anon",
    "active_file",
    "inactive_anon",
    "inactive_file",
    "percpu",
    "unevictable",
)

# x86_64 server (this project's build machine), kernel 6.18, MemAvailable present.
SERVER64 = {
    "active": UInt(376475648),
    "available": UInt(24939606016),
    "available_percent": 98.66715734722018,
    "buffered": UInt(13623296),
    "cached": UInt(731897856),
    "commit_limit": UInt(12638248960),
    "committed_as": UInt(56455168),
    "dirty": UInt(2777088),
    "free": UInt(24455487488),
    "high_free": UInt(0),
    "high_total": UInt(0),
    "huge_page_size": UInt(2097152),
    "huge_pages_free": UInt(0),
    "huge_pages_total": UInt(0),
    "inactive": UInt(283070464),
    "low_free": UInt(0),
    "low_total": UInt(0),
    "mapped": UInt(11390976),
    "page_tables": UInt(1458176),
    "shared": UInt(9084928),
    "slab": UInt(107360256),
    "sreclaimable": UInt(82497536),
    "sunreclaim": UInt(24862720),
    "swap_cached": UInt(0),
    "swap_free": UInt(0),
    "swap_total": UInt(0),
    "total": UInt(25276502016),
    "used": UInt(336896000),
    "used_percent": 1.3328426527798236,
    "vmalloc_chunk": UInt(0),
    "vmalloc_total": UInt(35184372087808),
    "vmalloc_used": UInt(14430208),
    "write_back": UInt(0),
    "write_back_tmp": UInt(0),
}

# Raspberry Pi 4, 32-bit 5.10.103-v7l+ kernel: HighTotal/LowTotal present, no HugePages_* lines.
RPI32 = {
    "active": UInt(124694528),
    "available": UInt(3709132800),
    "available_percent": 93.40169691868776,
    "buffered": UInt(18317312),
    "cached": UInt(206401536),
    "commit_limit": UInt(2090434560),
    "committed_as": UInt(259338240),
    "dirty": UInt(0),
    "free": UInt(3629887488),
    "high_free": UInt(3035963392),
    "high_total": UInt(3288334336),
    "huge_page_size": UInt(0),
    "huge_pages_free": UInt(0),
    "huge_pages_total": UInt(0),
    "inactive": UInt(125714432),
    "low_free": UInt(593924096),
    "low_total": UInt(682827776),
    "mapped": UInt(83124224),
    "page_tables": UInt(1937408),
    "shared": UInt(18124800),
    "slab": UInt(28696576),
    "sreclaimable": UInt(13193216),
    "sunreclaim": UInt(15503360),
    "swap_cached": UInt(0),
    "swap_free": UInt(104853504),
    "swap_total": UInt(104853504),
    "total": UInt(3971162112),
    "used": UInt(262029312),
    "used_percent": 6.598303081312234,
    "vmalloc_chunk": UInt(0),
    "vmalloc_total": UInt(251658240),
    "vmalloc_used": UInt(5365760),
    "write_back": UInt(0),
    "write_back_tmp": UInt(0),
}

# WSL1 (no MemAvailable, no High/Low, no Percpu) and no zoneinfo beside it:
# available = MemFree + Cached + SReclaimable.
CONTAINER = {
    "active": UInt(171577344),
    "available": UInt(7617609728),
    "available_percent": 44.69961118504558,
    "buffered": UInt(34848768),
    "cached": UInt(200007680),
    "commit_limit": UInt(527896576),
    "committed_as": UInt(3532865536),
    "dirty": UInt(0),
    "free": UInt(7417602048),
    "high_free": UInt(0),
    "high_total": UInt(0),
    "huge_page_size": UInt(2097152),
    "huge_pages_free": UInt(0),
    "huge_pages_total": UInt(0),
    "inactive": UInt(161665024),
    "low_free": UInt(0),
    "low_total": UInt(0),
    "mapped": UInt(73117696),
    "page_tables": UInt(2584576),
    "shared": UInt(18145280),
    "slab": UInt(14200832),
    "sreclaimable": UInt(6905856),
    "sunreclaim": UInt(7294976),
    "swap_cached": UInt(0),
    "swap_free": UInt(26668371968),
    "swap_total": UInt(26843541504),
    "total": UInt(17041780736),
    "used": UInt(9424171008),
    "used_percent": 55.30038881495442,
    "vmalloc_chunk": UInt(67629056),
    "vmalloc_total": UInt(125829120),
    "vmalloc_used": UInt(21807104),
    "write_back": UInt(0),
    "write_back_tmp": UInt(0),
}

EXTENDED = {
    "server64.txt": {
        "active_anon": UInt(1536000),
        "active_file": UInt(374939648),
        "inactive_anon": UInt(4104192),
        "inactive_file": UInt(278966272),
        "percpu": UInt(729088),
        "unevictable": UInt(12922880),
    },
    "rpi32.txt": {
        "active_anon": UInt(544768),
        "active_file": UInt(124149760),
        "inactive_anon": UInt(56463360),
        "inactive_file": UInt(69251072),
        "percpu": UInt(540672),
        "unevictable": UInt(9170944),
    },
    "container.txt": {
        "active_anon": UInt(105578496),
        "active_file": UInt(65998848),
        "inactive_anon": UInt(17858560),
        "inactive_file": UInt(143806464),
        "percpu": UInt(0),
        "unevictable": UInt(0),
    },
}

SAMPLES = [
    pytest.param("server64.txt", SERVER64, id="server64"),
    pytest.param("rpi32.txt", RPI32, id="rpi32"),
    pytest.param("container.txt", CONTAINER, id="container"),
]


def _read(name: str) -> str:
    return (DATA / name).read_text(encoding="ascii")


def _procfs(tmp_path: Path, meminfo: str, zoneinfo: str | None = None) -> str:
    """A directory holding a file named meminfo (and zoneinfo if given), as MemInput reads it."""
    (tmp_path / "meminfo").write_text(meminfo, encoding="ascii")
    if zoneinfo is not None:
        (tmp_path / "zoneinfo").write_text(zoneinfo, encoding="ascii")
    return str(tmp_path)


def _gather(procfs: str | None = None, **options) -> Dict[str, object]:
    metrics = MemInput(procfs=procfs, **options).gather()
    assert len(metrics) == 1
    metric = metrics[0]
    assert metric.name == "mem"
    assert metric.tags == {}
    return metric.fields


def _typed(fields: Dict[str, object]) -> Dict[str, tuple]:
    """Compare values together with their types, so UInt(1), 1 and 1.0 are all different."""
    return {key: (type(value), value) for key, value in fields.items()}


def _go_percent(part: int, total: int) -> float:
    """Telegraf's 100*float64(part)/float64(total), in that order."""
    return 100 * float(part) / float(total)


def _page_size() -> int:
    return os.sysconf("SC_PAGE_SIZE")


def test_samples_are_real_files():
    for name in ("server64.txt", "rpi32.txt", "container.txt", "zoneinfo.txt", "SOURCES.md"):
        assert (DATA / name).is_file(), name


@pytest.mark.parametrize("sample, expected", SAMPLES)
def test_golden_fields(tmp_path, sample, expected):
    shutil.copyfile(DATA / sample, tmp_path / "meminfo")
    fields = _gather(str(tmp_path))
    assert _typed(fields) == _typed(expected)


@pytest.mark.parametrize("sample, expected", SAMPLES)
def test_exactly_the_telegraf_field_names(tmp_path, sample, expected):
    fields = _gather(_procfs(tmp_path, _read(sample)))
    assert sorted(fields) == list(TELEGRAF_FIELDS)
    assert len(fields) == 34
    for name in TELEGRAF_FIELDS:
        expected_type = float if name in FLOAT_FIELDS else UInt
        assert type(fields[name]) is expected_type, name


@pytest.mark.parametrize("sample, expected", SAMPLES)
def test_percentages_use_telegraf_order_of_operations(tmp_path, sample, expected):
    fields = _gather(_procfs(tmp_path, _read(sample)))
    total = expected["total"]
    assert fields["used_percent"] == _go_percent(expected["used"], total)
    assert fields["available_percent"] == _go_percent(expected["available"], total)
    assert expected["used"] == total - expected["available"]


def test_gopsutil_order_would_differ_on_rpi32():
    # Guards the point of the check above: x/total*100 is one ulp off on this sample.
    used, available, total = RPI32["used"], RPI32["available"], RPI32["total"]
    assert float(used) / float(total) * 100 != RPI32["used_percent"]
    assert float(available) / float(total) * 100 != RPI32["available_percent"]


@pytest.mark.parametrize("sample, expected", SAMPLES)
def test_collect_extended_adds_six_fields(tmp_path, sample, expected):
    fields = _gather(_procfs(tmp_path, _read(sample)), collect_extended=True)
    assert set(fields) == set(TELEGRAF_FIELDS) | set(EXTENDED_FIELDS)
    assert len(fields) == 40
    assert _typed({k: fields[k] for k in EXTENDED_FIELDS}) == _typed(EXTENDED[sample])
    assert _typed({k: fields[k] for k in TELEGRAF_FIELDS}) == _typed(expected)


def test_extended_fields_are_off_by_default(tmp_path):
    fields = _gather(_procfs(tmp_path, _read("rpi32.txt")))
    assert not set(EXTENDED_FIELDS) & set(fields)


# --- no MemAvailable (WSL1, kernels before 3.14) -------------------------------------------------


def test_container_sample_really_lacks_keys():
    text = _read("container.txt")
    keys = {line.split(":", 1)[0] for line in text.splitlines()}
    for missing in ("MemAvailable", "HighTotal", "HighFree", "LowTotal", "LowFree", "Percpu"):
        assert missing not in keys
    for present in ("Active(file)", "Inactive(file)", "SReclaimable"):
        assert present in keys


def test_no_memavailable_no_zoneinfo_is_free_plus_cached(tmp_path):
    # The file counters are all there but /proc/zoneinfo cannot be read: gopsutil returns
    # Free + Cached, where Cached already holds SReclaimable.
    fields = _gather(_procfs(tmp_path, _read("container.txt")))
    assert fields["available"] == UInt((7243752 + 188576 + 6744) * 1024)
    assert fields["available"] == CONTAINER["free"] + CONTAINER["cached"]
    assert fields["cached"] == UInt((188576 + 6744) * 1024)


@pytest.mark.skipif(_page_size() != 4096, reason="expected values assume 4 KiB pages")
def test_no_memavailable_zoneinfo_low_watermarks(tmp_path):
    # low watermarks in zoneinfo.txt: 72 + 14780 + 6265 + 32 + 0 = 21149 pages = 86626304 bytes.
    # avail = Free - low
    #       + pagecache - min(pagecache/2, low)      (pagecache = Active(file) + Inactive(file))
    #       + SReclaimable - min(SReclaimable/2, low)
    #       = 7417602048 - 86626304 + (209805312 - 86626304) + (6905856 - 3452928)
    procfs = _procfs(tmp_path, _read("container.txt"), _read("zoneinfo.txt"))
    fields = _gather(procfs)
    expected = dict(CONTAINER)
    expected.update(
        available=UInt(7457607680),
        used=UInt(9584173056),
        available_percent=43.760730146270085,
        used_percent=56.239269853729915,
    )
    assert _typed(fields) == _typed(expected)
    assert fields["used_percent"] == _go_percent(9584173056, 17041780736)


def test_zoneinfo_ignored_when_a_file_counter_is_missing(tmp_path):
    # Without Active(file) gopsutil does not try the watermark formula:
    # available = Free + Cached + SReclaimable.
    text = "".join(
        line
        for line in _read("container.txt").splitlines(keepends=True)
        if not line.startswith("Active(file):")
    )
    fields = _gather(_procfs(tmp_path, text, _read("zoneinfo.txt")))
    assert fields["available"] == UInt(7617609728)
    assert fields["used"] == UInt(9424171008)
    assert fields["available_percent"] == 44.69961118504558


def test_zoneinfo_ignored_when_memavailable_present(tmp_path):
    fields = _gather(_procfs(tmp_path, _read("server64.txt"), _read("zoneinfo.txt")))
    assert _typed(fields) == _typed(SERVER64)


# --- robustness ----------------------------------------------------------------------------------


def test_missing_keys_are_zero_not_missing(tmp_path):
    fields = _gather(_procfs(tmp_path, "MemTotal:        1000 kB\nMemFree:          400 kB\n"))
    assert sorted(fields) == list(TELEGRAF_FIELDS)
    expected = {name: UInt(0) for name in TELEGRAF_FIELDS}
    expected.update(
        total=UInt(1024000),
        free=UInt(409600),
        available=UInt(409600),  # no MemAvailable, no file counters: Free + Cached (0)
        used=UInt(614400),
        available_percent=40.0,
        used_percent=60.0,
    )
    assert _typed(fields) == _typed(expected)


def test_rpi32_has_no_hugepage_lines_and_reports_zero(tmp_path):
    assert "HugePages_Total" not in _read("rpi32.txt")
    fields = _gather(_procfs(tmp_path, _read("rpi32.txt")))
    for name in ("huge_pages_total", "huge_pages_free", "huge_page_size"):
        assert type(fields[name]) is UInt and fields[name] == 0


def test_garbage_lines_do_not_crash_the_gather(tmp_path):
    lines = _read("rpi32.txt").splitlines(keepends=True)
    garbage = [
        "this line has no colon at all\n",
        "\n",
        "Bogus:       not-a-number kB\n",
        "Weird: 1: 2 kB\n",
        "Empty:\n",
        "\x00\xff\n",
    ]
    text = "".join(lines[:5] + garbage + lines[5:])
    (tmp_path / "meminfo").write_bytes(text.encode("latin-1"))
    fields = _gather(str(tmp_path))
    assert _typed(fields) == _typed(RPI32)


# --- line protocol -------------------------------------------------------------------------------


@pytest.mark.parametrize("sample, expected", SAMPLES)
def test_line_protocol_has_32_integers_and_2_floats(tmp_path, sample, expected):
    metrics = MemInput(procfs=_procfs(tmp_path, _read(sample))).gather()
    metrics[0].time = 1_700_000_000_000_000_000
    line = Serializer().serialize(metrics[0])
    assert line.startswith("mem ")
    assert line.endswith(" 1700000000000000000\n")
    pairs = line[len("mem ") : -len(" 1700000000000000000\n")].split(",")
    assert len(pairs) == 34
    values = dict(pair.split("=", 1) for pair in pairs)
    integers = [key for key, text in values.items() if text.endswith("i")]
    assert len(integers) == 32
    assert sorted(set(values) - set(integers)) == list(FLOAT_FIELDS)
    assert not any(text.endswith("u") for text in values.values())

    (parsed,) = parse_metrics(line)
    assert parsed.name == "mem"
    assert parsed.tags == {}
    assert parsed.time == 1_700_000_000_000_000_000
    assert sorted(parsed.fields) == list(TELEGRAF_FIELDS)
    for name in TELEGRAF_FIELDS:
        value = parsed.fields[name]
        if name in FLOAT_FIELDS:
            assert type(value) is float and value == expected[name], name
        else:
            assert type(value) is int and value == int(expected[name]), name


def test_line_protocol_uint_support_writes_u(tmp_path):
    metrics = MemInput(procfs=_procfs(tmp_path, _read("server64.txt"))).gather()
    line = Serializer(uint_support=True, sort_fields=True).serialize(metrics[0])
    assert "total=25276502016u," in line
    assert "vmalloc_total=35184372087808u," in line
    assert "used_percent=1.3328426527798236," in line
    (parsed,) = parse_metrics(line)
    assert _typed(parsed.fields) == _typed(SERVER64)


# --- HOST_PROC -----------------------------------------------------------------------------------


def test_host_proc_env_is_honoured(tmp_path, monkeypatch):
    host_proc = tmp_path / "host" / "proc"
    host_proc.mkdir(parents=True)
    shutil.copyfile(DATA / "rpi32.txt", host_proc / "meminfo")
    monkeypatch.setenv("HOST_PROC", str(host_proc))
    assert _typed(_gather()) == _typed(RPI32)


def test_host_proc_env_feeds_the_zoneinfo_estimate(tmp_path, monkeypatch):
    procfs = _procfs(tmp_path, _read("container.txt"), _read("zoneinfo.txt"))
    monkeypatch.setenv("HOST_PROC", procfs)
    fields = _gather()
    if _page_size() == 4096:
        assert fields["available"] == UInt(7457607680)
    assert fields["available"] != CONTAINER["available"]


def test_explicit_procfs_wins_over_host_proc(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copyfile(DATA / "server64.txt", elsewhere / "meminfo")
    monkeypatch.setenv("HOST_PROC", str(elsewhere))
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    shutil.copyfile(DATA / "container.txt", chosen / "meminfo")
    assert _typed(_gather(str(chosen))) == _typed(CONTAINER)


def test_missing_meminfo_under_an_explicit_procfs_is_an_error_not_our_own_memory(tmp_path):
    with pytest.raises(FileNotFoundError, match="meminfo does not exist"):
        MemInput(procfs=str(tmp_path)).gather()
