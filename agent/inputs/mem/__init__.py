"""inputs.mem: Telegraf's `mem` measurement on Linux, read straight from /proc/meminfo.

Values and formulas follow Telegraf's mem plugin over gopsutil: kB * 1024 for sizes, Cached
includes SReclaimable, HugePages_* are page counts, used = total - available, percentages are
unrounded floats. Keys the kernel does not report are 0. Where /proc/meminfo does not exist
(not Linux), psutil fills what it knows.
"""

from __future__ import annotations

import math
import os
from typing import Dict, List, Optional

from agent.lineprotocol.metric import Metric, UInt
from agent.plugin.base import Input
from agent.plugin.options import Option

# Telegraf field -> /proc/meminfo key, for the plain byte-valued fields.
_BYTE_FIELDS = {
    "active": "Active",
    "buffered": "Buffers",
    "commit_limit": "CommitLimit",
    "committed_as": "Committed_AS",
    "dirty": "Dirty",
    "free": "MemFree",
    "high_free": "HighFree",
    "high_total": "HighTotal",
    "huge_page_size": "Hugepagesize",
    "inactive": "Inactive",
    "low_free": "LowFree",
    "low_total": "LowTotal",
    "mapped": "Mapped",
    "page_tables": "PageTables",
    "shared": "Shmem",
    "slab": "Slab",
    "sreclaimable": "SReclaimable",
    "sunreclaim": "SUnreclaim",
    "swap_cached": "SwapCached",
    "swap_free": "SwapFree",
    "swap_total": "SwapTotal",
    "total": "MemTotal",
    "vmalloc_chunk": "VmallocChunk",
    "vmalloc_total": "VmallocTotal",
    "vmalloc_used": "VmallocUsed",
    "write_back": "Writeback",
    "write_back_tmp": "WritebackTmp",
}
_COUNT_FIELDS = {"huge_pages_free": "HugePages_Free", "huge_pages_total": "HugePages_Total"}
_EXTENDED_FIELDS = {
    "active_anon": "Active(anon)",
    "active_file": "Active(file)",
    "inactive_anon": "Inactive(anon)",
    "inactive_file": "Inactive(file)",
    "percpu": "Percpu",
    "unevictable": "Unevictable",
}

# Every field in name order (None: computed), so a gather builds its dict in one pass.
_SORTED_FIELDS = sorted(
    [*_BYTE_FIELDS.items(), *_COUNT_FIELDS.items(), ("available", None), ("cached", None),
     ("used", None), ("available_percent", None), ("used_percent", None)]
)
# The only /proc/meminfo lines without a kB unit (Documentation/filesystems/proc.rst).
_UNITLESS = frozenset({"HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"})


class MemInput(Input):
    name = "mem"
    options = (
        Option("collect_extended", "bool", False,
               "add active_anon, active_file, inactive_anon, inactive_file, percpu, unevictable"),
    )

    def __init__(self, procfs: Optional[str] = None, **options: object) -> None:
        super().__init__(**options)
        # HOST_PROC is how Telegraf (gopsutil) is pointed at a host's /proc from a container.
        self.procfs = procfs or os.environ.get("HOST_PROC") or "/proc"

    def gather(self) -> List[Metric]:
        path = os.path.join(self.procfs, "meminfo")
        meminfo = read_meminfo(path)
        if meminfo is None:
            if self.procfs != "/proc" or os.path.isdir("/proc/self"):
                # A host /proc we were pointed at, or Linux itself: psutil would only read our
                # own /proc and report the wrong machine's memory.
                raise FileNotFoundError(f"{path} does not exist")
            return [Metric("mem", _fields_from_psutil())]
        available = meminfo.get("MemAvailable")
        if available is None:
            available = self._estimate_available(meminfo)
        fields = mem_fields(meminfo, available)
        if self.collect_extended:
            fields.update({f: UInt(meminfo.get(k, 0)) for f, k in _EXTENDED_FIELDS.items()})
        return [Metric("mem", fields)]

    def _estimate_available(self, meminfo: Dict[str, int]) -> int:
        """gopsutil's estimate for kernels without MemAvailable (< 3.14)."""
        free, cached = meminfo.get("MemFree", 0), _cached(meminfo)
        if not all(k in meminfo for k in ("Active(file)", "Inactive(file)", "SReclaimable")):
            return free + cached
        low = _zoneinfo_low_watermark(os.path.join(self.procfs, "zoneinfo"))
        if low is None:
            return free + cached
        page_cache = meminfo["Active(file)"] + meminfo["Inactive(file)"]
        page_cache -= min(page_cache // 2, low)
        reclaimable = meminfo["SReclaimable"]
        return max(0, free - low + page_cache + reclaimable - min(reclaimable // 2, low))


def read_meminfo(path: str) -> Optional[Dict[str, int]]:
    """{key: value} with sizes in bytes and HugePages_* as counts; None if there is no file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    text = data.decode("ascii", "replace")
    return _parse_quickly(text) or _parse_line_by_line(text)


def _parse_quickly(text: str) -> Optional[Dict[str, int]]:
    """The whole file in a few C-level calls, when every line is 'Key: N kB' or one of the
    kernel's unitless HugePages_* counts; None for anything else."""
    lines = text.count("\n")
    tokens = text.replace(" kB\n", "\n").replace(":", " ").split()
    keys, numbers = tokens[::2], tokens[1::2]
    counts = _UNITLESS.intersection(keys)
    if len(tokens) != 2 * lines or text.count(" kB\n") + len(counts) != lines:
        return None
    try:
        values = dict(zip(keys, [int(number) << 10 for number in numbers]))
    except ValueError:
        return None
    for key in counts:
        values[key] >>= 10
    return values


def _parse_line_by_line(text: str) -> Dict[str, int]:
    """Any meminfo: lines without a number are skipped, a kB unit multiplies by 1024."""
    values = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if not parts or not parts[0].isdigit():
            continue
        multiplier = 1024 if len(parts) > 1 and parts[1] == "kB" else 1
        values[key] = int(parts[0]) * multiplier
    return values


def mem_fields(meminfo: Dict[str, int], available: int) -> Dict[str, object]:
    """The 34 fields of Telegraf's mem measurement, sorted by name."""
    get = meminfo.get
    total = get("MemTotal", 0)
    used = max(0, total - available)
    computed = {
        "available": UInt(available),
        "cached": UInt(_cached(meminfo)),
        "used": UInt(used),
        # Telegraf's float arithmetic, in its order: 100*float64(x)/float64(total).
        "available_percent": 100 * float(available) / total if total else math.nan,
        "used_percent": 100 * float(used) / total if total else math.nan,
    }
    return {field: computed[field] if key is None else UInt(get(key, 0))
            for field, key in _SORTED_FIELDS}


def _cached(meminfo: Dict[str, int]) -> int:
    return meminfo.get("Cached", 0) + meminfo.get("SReclaimable", 0)


def _zoneinfo_low_watermark(path: str) -> Optional[int]:
    try:
        with open(path, encoding="ascii", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    pages = 0
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "low" and parts[1].isdigit():
            pages += int(parts[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def _fields_from_psutil() -> Dict[str, object]:
    """Not Linux: the fields psutil knows, the rest 0, same names and types."""
    import psutil

    vm = psutil.virtual_memory()
    meminfo = {
        "MemTotal": vm.total, "MemFree": vm.free,
        "Active": getattr(vm, "active", 0), "Inactive": getattr(vm, "inactive", 0),
        "Buffers": getattr(vm, "buffers", 0), "Cached": getattr(vm, "cached", 0),
        "Shmem": getattr(vm, "shared", 0), "Slab": getattr(vm, "slab", 0),
    }
    swap = psutil.swap_memory()
    meminfo.update(SwapTotal=swap.total, SwapFree=swap.free)
    return mem_fields(meminfo, vm.available)
