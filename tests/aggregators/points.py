"""Raw points for the judged tests: several series, gaps, and points stamped late (within and
beyond grace) and early (beyond the delay), with which window Telegraf's rule gives each."""

from __future__ import annotations

import random
from typing import Dict, List, Tuple

from agent.lineprotocol.metric import Metric

MS = 1_000_000
ROOMS = ("a", "b", "c")


def batch(rng: random.Random, start: int, period: int, grace: int, delay: int, index: int,
          skip_rooms: Tuple[str, ...] = ()) -> Tuple[List[Metric], List[Metric]]:
    """(what is fed while the window [start, start + period] is open, what it takes)."""
    fed, taken = [], []
    end = start + period
    for room in ROOMS:
        if room in skip_rooms:
            continue
        stamps = sorted(rng.sample(range(start + MS, end - MS, MS), rng.randint(1, 6)))
        stamps.insert(rng.randrange(len(stamps) + 1), start - grace + rng.randrange(grace))  # late
        stamps.append(end + rng.randrange(1, delay // MS) * MS)  # just after the end
        for stamp in stamps:
            fed.append(_point(rng, room, stamp, index))
        taken.extend(fed[-len(stamps):])
        fed.append(_point(rng, room, start - grace - rng.randrange(1, 900) * MS, index))  # too late
        fed.append(_point(rng, room, end + delay + rng.randrange(1, 900) * MS, index))  # too early
    return fed, taken


def _point(rng: random.Random, room: str, stamp: int, index: int) -> Metric:
    return Metric("climate", {"co2": rng.randrange(380, 2500), "t": round(rng.uniform(15, 30), 3),
                              "label": f"w{index}"}, {"room": room}, stamp)


def windows_plan(count: int) -> Dict[int, Tuple[str, ...]]:
    """Per window index, the rooms with no point at all (a gap); one window is all gap."""
    plan: Dict[int, Tuple[str, ...]] = {k: () for k in range(count)}
    plan[2] = plan[3] = ("c",)
    plan[count - 2] = ROOMS
    return plan
