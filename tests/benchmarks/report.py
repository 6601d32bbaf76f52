"""Results of the benchmark suite: one Row per comparison, a plain-text table and JSON.

Every row compares `ours` with `peer` (the tool a user would otherwise pick, or a floor that
nothing can beat) in the same unit; `ratio` is always ours / peer. The target says which way
is better: ">= 5x" (throughput), "<= 4x" (cost), or an absolute bound on `ours` ("<= 20 MB").
"""

from __future__ import annotations

import json
import platform
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Target:
    """What `ours` must achieve: kind is ratio_min, ratio_max, max or below; value a number."""

    kind: str
    value: float

    def text(self, unit: str) -> str:
        if self.kind == "ratio_min":
            return f">= {self.value:g}x"
        if self.kind == "ratio_max":
            return f"<= {self.value:g}x"
        if self.kind == "max":
            return f"<= {self.value:g} {unit}"
        return f"< {self.value:g} {unit}"

    def met(self, ours: Optional[float], ratio: Optional[float]) -> Optional[bool]:
        if self.kind.startswith("ratio"):
            if ratio is None:
                return None
            return ratio >= self.value if self.kind == "ratio_min" else ratio <= self.value
        if ours is None:
            return None
        return ours <= self.value if self.kind == "max" else ours < self.value


@dataclass
class Row:
    group: str  # the benchmark: encoding, gather, footprint, steady, write, drain, postgresql
    what: str  # one line: what was measured
    ours: Optional[float]
    unit: str
    peer: Optional[float] = None
    peer_label: str = ""  # what the peer column is: "influxdb-client", "floor: ...", ...
    target: Optional[Target] = None
    ok: bool = True  # False: the run itself failed a check (lost points, bad exit code, ...)
    notes: str = ""
    details: Dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> Optional[float]:
        if self.ours is None or not self.peer:
            return None
        return self.ours / self.peer

    @property
    def met(self) -> Optional[bool]:
        if not self.ok:
            return False
        return self.target.met(self.ours, self.ratio) if self.target else None

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data["target"] = self.target.text(self.unit) if self.target else None
        data["ratio"] = self.ratio
        data["met"] = self.met
        return data


def number(value: Optional[float], unit: str = "") -> str:
    if value is None:
        return "-"
    magnitude = abs(value)
    if float(value).is_integer() and magnitude < 1000:
        text = f"{value:.0f}"
    elif magnitude >= 1000:
        text = f"{value:,.0f}"
    elif magnitude >= 100:
        text = f"{value:.0f}"
    elif magnitude >= 10:
        text = f"{value:.1f}"
    elif magnitude >= 0.1:
        text = f"{value:.2f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def met_text(met: Optional[bool]) -> str:
    return {True: "yes", False: "NO", None: ""}[met]


def table(rows: List[Row]) -> str:
    header = ("what", "ours", "peer / floor", "ratio", "target", "met?")
    cells = [header]
    for row in rows:
        peer = number(row.peer, row.unit) if row.peer is not None else ""
        if row.peer_label:
            peer = f"{peer} ({row.peer_label})" if row.peer is not None else row.peer_label
        ratio = f"{row.ratio:.2f}x" if row.ratio is not None else ""
        target = row.target.text(row.unit) if row.target else ""
        cells.append((row.what, number(row.ours, row.unit), peer, ratio, target,
                      met_text(row.met)))
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = []
    for index, line in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [f"  [{r.group}] {r.what}: {r.notes}" for r in rows if r.notes]
    if notes:
        lines += ["", "notes:", *notes]
    return "\n".join(lines)


def machine() -> Dict[str, Any]:
    import os

    cpu = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith(("model name", "Model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
    }


def as_json(rows: List[Row], meta: Dict[str, Any]) -> str:
    return json.dumps({"meta": meta, "rows": [r.as_dict() for r in rows]}, indent=2)
