"""inputs.internal: the agent's own health in Telegraf's internal_* schema.

internal_agent, internal_gather (per input), internal_write (per output, plus dead_letters),
internal_<input> for inputs that keep their own counters (e.g. internal_serial),
internal_worker (per supervised background worker: errors, restarts, healthy) and
internal_process: this process's memory and CPU from psutil. internal_agent adds
worker_errors and worker_restarts (every worker since start, stopped ones included).
"""

from __future__ import annotations

import os
import platform
from typing import Dict, List, Optional

from agent import __version__
from agent.lineprotocol.metric import Metric
from agent.plugin.base import BufferedOutput, Input
from agent.system.worker import SUPERVISOR, Supervisor


class InternalInput(Input):
    name = "internal"
    description = "the agent's own metrics (Telegraf's internal_* measurements)"
    sample_config = """\
# The agent's own health: gathers, writes, buffers, dead letters, memory and CPU.
[[inputs.internal]]
"""

    agent = None

    def __init__(self, supervisor: Optional[Supervisor] = None, **options: object) -> None:
        super().__init__(**options)
        self.supervisor = supervisor or SUPERVISOR

    def bind(self, agent: object) -> None:
        self.agent = agent

    def gather(self) -> List[Metric]:
        version = {"version": __version__, "python_version": platform.python_version()}
        metrics = self._gathers(version) + self._writes(version) + self._workers(version)
        metrics.append(self._agent(version, metrics))
        metrics.append(Metric("internal_process", _process_fields(), dict(version)))
        return metrics

    def _gathers(self, version: Dict[str, str]) -> List[Metric]:
        metrics = []
        for running in sorted(self.agent.inputs if self.agent else [], key=lambda r: r.label):
            tags = {"input": running.config.name, **_alias(running), **version}
            stats = running.stats
            metrics.append(Metric("internal_gather", {
                "errors": stats.errors, "gather_time_ns": stats.gather_time_ns,
                "metrics_gathered": stats.metrics_gathered}, tags))
            own = running.plugin.stats()
            if own:
                metrics.append(Metric(f"internal_{running.config.name}", dict(own), tags))
        return metrics

    def _writes(self, version: Dict[str, str]) -> List[Metric]:
        metrics = []
        outputs = self.agent.outputs if self.agent else []
        for running in sorted(outputs, key=lambda r: r.label):
            fields = dict(running.plugin.write_stats()) if isinstance(
                running.plugin, BufferedOutput) else {}
            if not fields:
                continue
            fields["metrics_filtered"] = running.metrics_filtered
            tags = {"output": running.config.name, **_alias(running), **version}
            metrics.append(Metric("internal_write", fields, tags))
        return metrics

    def _workers(self, version: Dict[str, str]) -> List[Metric]:
        metrics = []
        for stats in sorted(self.supervisor.stats(), key=lambda s: str(s["worker"])):
            fields = dict(stats)
            tags = {"worker": str(fields.pop("worker")), **version}
            metrics.append(Metric("internal_worker", fields, tags))
        return metrics

    def _agent(self, version: Dict[str, str], metrics: List[Metric]) -> Metric:
        def total(measurement: str, field: str) -> int:
            return sum(int(m.fields.get(field, 0)) for m in metrics if m.name == measurement)

        return Metric("internal_agent", {
            "gather_errors": total("internal_gather", "errors"),
            "metrics_dropped": total("internal_write", "metrics_dropped"),
            "metrics_gathered": total("internal_gather", "metrics_gathered"),
            "metrics_written": total("internal_write", "metrics_written"),
            "worker_errors": self.supervisor.failures,
            "worker_restarts": self.supervisor.restarts,
        }, dict(version))


def _alias(running: object) -> Dict[str, str]:
    alias = running.config.common.get("alias")
    return {"alias": alias} if alias else {}


def _process_fields() -> Dict[str, object]:
    import psutil

    process = psutil.Process(os.getpid())
    with process.oneshot():
        memory = process.memory_info()
        cpu = process.cpu_times()
        return {
            "rss_bytes": memory.rss,
            "vms_bytes": memory.vms,
            "cpu_user_seconds": cpu.user,
            "cpu_system_seconds": cpu.system,
            "num_threads": process.num_threads(),
        }
