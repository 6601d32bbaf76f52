"""Inputs for the shutdown tests: ones that meet at a barrier when stopped (they pass only if
their stops run side by side) and one that never stops."""

from __future__ import annotations

import threading
from typing import List

from agent.lineprotocol.metric import Metric
from agent.plugin.base import Input

BARRIER = threading.Barrier(1)
RELEASE = threading.Event()
MET = 0
_lock = threading.Lock()


def reset(parties: int) -> None:
    global BARRIER, MET
    BARRIER, MET = threading.Barrier(parties, timeout=2.0), 0
    RELEASE.clear()


class MeetingInput(Input):
    name = "meeting"
    description = "stop() waits at a barrier for the other meeting inputs"

    def gather(self) -> List[Metric]:
        return []

    def stop(self) -> None:
        global MET
        BARRIER.wait()  # BrokenBarrierError when the others do not come (sequential stops)
        with _lock:
            MET += 1


class StuckInput(Input):
    name = "stuck"
    description = "stop() does not return until the test ends"

    def gather(self) -> List[Metric]:
        return []

    def stop(self) -> None:
        RELEASE.wait()
