"""Small inputs for runner tests, added to the explicit registry by the tests that need them."""

import os
import sys
import time
from typing import List

from agent.lineprotocol.metric import Metric
from agent.plugin import registry
from agent.plugin.base import Input, ServiceInput
from agent.plugin.options import Option
from agent.system.backoff import Backoff
from agent.system.worker import Worker


class FailingInput(Input):
    name = "failing"
    description = "raises on every gather"

    def gather(self) -> List[Metric]:
        raise RuntimeError("sensor on fire")


class SlowInput(Input):
    name = "slow"
    description = "takes `delay` seconds per gather"
    options = (Option("delay", "float", 0.0),)

    def gather(self) -> List[Metric]:
        time.sleep(self.delay)
        return [Metric("slow", {"value": 1})]


class TaggedInput(Input):
    name = "tagged"
    description = "one metric with its own tag and a fixed time"

    def gather(self) -> List[Metric]:
        return [Metric("tagged", {"a": 1, "b": 2.5, "c": "x"}, {"host": "own", "t": "1"},
                       time=1_700_000_000_499_999_999)]


class ListSink:
    """An output stand-in that keeps what it is given."""

    def __init__(self):
        self.metrics = []

    def connect(self):
        pass

    def write(self, metrics):
        self.metrics.extend(metrics)

    def close(self):
        pass


class PushingInput(ServiceInput):
    """A service input that hands over what a test gives it, as a listener does."""

    name = "pushing"
    description = "push(metrics) stores them through the accumulator"

    def start(self, accumulator=None):
        self.accumulator = accumulator

    def push(self, metrics: List[Metric]) -> None:
        self.accumulator.add_metrics(metrics)


class DropboxInput(Input):
    """Gathers the line protocol files (*.lp) put in `directory`, in name order, each once
    (renamed to *.taken): a test feeds a running agent points with its own timestamps."""

    name = "dropbox"
    description = "line protocol files from a directory"
    options = (Option("directory", "str", ""),)

    def gather(self) -> List[Metric]:
        import os

        from agent.lineprotocol.parser import parse_metrics

        metrics: List[Metric] = []
        for entry in sorted(e for e in os.listdir(self.directory) if e.endswith(".lp")):
            path = os.path.join(self.directory, entry)
            with open(path, encoding="utf-8") as handle:
                metrics.extend(parse_metrics(handle.read()))
            os.replace(path, path[:-3] + ".taken")
        return metrics


class HangingInput(Input):
    """Gathers one metric, but hangs for as long as the file `hang_file` exists (a stuck
    driver, a query without a timeout)."""

    name = "hanging"
    description = "a gather that blocks while hang_file exists"
    options = (Option("hang_file", "str", ""),)

    def gather(self) -> List[Metric]:
        while self.hang_file and os.path.exists(self.hang_file):
            time.sleep(0.01)
        return [Metric("hanging", {"value": 1})]


class CrashingWorkerInput(ServiceInput):
    """Runs a supervised worker of its own whose body raises `failures` times (-1: always),
    then keeps working (beating) until stopped."""

    name = "crashing"
    description = "a service input whose background worker raises"
    options = (Option("failures", "int", 1), Option("max_failures", "int", 3))

    def start(self, accumulator=None):
        self.raised = 0
        self.worker = Worker("crashing worker", self._body, logger=self.log,
                             backoff=Backoff(first=0.05, cap=0.1),
                             max_failures=self.max_failures).start()

    def _body(self, worker: Worker) -> None:
        if self.failures < 0 or self.raised < self.failures:
            self.raised += 1
            raise RuntimeError(f"worker on fire #{self.raised}")
        while not worker.sleep(0.05):
            worker.beat()

    def stop(self):
        self.worker.stop()


def main_with_fakes() -> None:
    """`python -c 'from tests.fake_plugins import main_with_fakes; main_with_fakes()' run ...`:
    the real agent command line, with these inputs in its registry."""
    for plugin in (HangingInput, CrashingWorkerInput, SlowInput, FailingInput):
        registry.INPUTS[plugin.name] = f"tests.fake_plugins:{plugin.__name__}"
    from agent.cli import main

    main(sys.argv[1:])
