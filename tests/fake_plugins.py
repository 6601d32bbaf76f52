"""Small inputs for runner tests, added to the explicit registry by the tests that need them."""

import time
from typing import List

from agent.lineprotocol.metric import Metric
from agent.plugin.base import Input, ServiceInput
from agent.plugin.options import Option


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
