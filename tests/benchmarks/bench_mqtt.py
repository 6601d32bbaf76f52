"""Benchmark the MQTT fleet path: 10 agents publishing mem at 1 Hz plus one agent reading a
1,000 lines/s sensor stream (inputs.serial on a pty), through one Mosquitto, to one collector
(mqtt_consumer, QoS 1, persistent session) writing to VictoriaMetrics.

Reported: end-to-end throughput, p99 latency from a sensor reading's timestamp to the moment it
can be read back from VictoriaMetrics (polled every 0.25 s; VictoriaMetrics itself makes
recent samples visible after up to ~1 s), CPU (% of one core) and RSS per agent; then the broker
is stopped for 30 s and the time from its return until every reading of the outage is in
VictoriaMetrics (the drain). The peer column is the same broker's cost (mosquitto's CPU).
"""

from __future__ import annotations

import os
import pty
import threading
import time
import tty
from typing import Dict, List

from tests import servers
from tests.benchmarks.common import AGENT, CLK_TCK, Context
from tests.benchmarks.report import Row

AGENTS = 10
SENSOR_RATE = 1000  # lines per second
OUTAGE_SECONDS = 30.0


class SensorStream(threading.Thread):
    """Writes `sensor,id=s1 value=N <now ns>` lines to a pty at SENSOR_RATE, 10 per 10 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.master, slave = pty.openpty()
        tty.setraw(slave)
        self.port = os.ttyname(slave)
        self._slave = slave
        self.written: List[int] = []  # timestamps (ns)
        self.stop_event = threading.Event()

    def run(self) -> None:
        step, n, next_at = 0.01, 0, time.monotonic()
        while not self.stop_event.is_set():
            now_ns = time.time_ns()
            lines = []
            for i in range(SENSOR_RATE // 100):
                stamp = now_ns + i
                lines.append(f"sensor,id=s1 value={n}i {stamp}\n")
                self.written.append(stamp)
                n += 1
            os.write(self.master, "".join(lines).encode())
            next_at += step
            self.stop_event.wait(max(0.0, next_at - time.monotonic()))


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _agent(ctx: Context, name: str, text: str):
    directory = ctx.tempdir(name)
    config = directory / "agent.toml"
    config.write_text(text.replace("@BUFFER@", str(directory / "buffer")))
    log = open(directory / "stderr", "wb")  # noqa: SIM115 - the child keeps it
    return ctx.spawn([*AGENT, "run", "--config", str(config)], stdout=log, stderr=log)


def _pi(broker: str, index: int, inputs: str) -> str:
    return f"""
[agent]
  interval = "1s"
  flush_interval = "1s"
  metric_batch_size = 1000
  metric_buffer_limit = 1000000
  retry_max_interval = "5s"
  buffer_directory = "@BUFFER@"
  hostname = "pi-{index:02d}"
{inputs}
[[outputs.mqtt]]
  servers = ["{broker}"]
  topic = 'fleet/{{{{ .Tag "host" }}}}/{{{{ .Name }}}}'
  qos = 1
  layout = "batch"
"""


def _collector(broker: str, vm_url: str) -> str:
    return f"""
[agent]
  flush_interval = "250ms"
  metric_batch_size = 5000
  metric_buffer_limit = 2000000
  retry_max_interval = "5s"
  buffer_directory = "@BUFFER@"
  omit_hostname = true
[[inputs.mqtt_consumer]]
  servers = ["{broker}"]
  topics = ["fleet/#"]
  topic_tag = ""
  qos = 1
  persistent_session = true
  client_id = "bench-collector"
  max_reconnect_interval = "5s"
  max_undelivered_messages = 1000
[[outputs.influxdb_v2]]
  urls = ["{vm_url}"]
  token = "bench"
  organization = "bench"
  bucket = "bench"
"""


def _seen(vm: servers.VictoriaMetrics, since_ms: int, name: str = "sensor_value") -> List[int]:
    """Timestamps (ms) of the samples of `name` since since_ms that a query can see."""
    import json
    from urllib.parse import urlencode

    vm.flush()
    query = urlencode({"match[]": f'{{__name__="{name}"}}', "start": f"{since_ms / 1000:.3f}"})
    status, data = servers.http("GET", f"{vm.url}/api/v1/export?{query}")
    if status != 200:
        raise servers.ServerError(f"export: HTTP {status}")
    return [t for line in data.splitlines() if line.strip()
            for t in json.loads(line)["timestamps"]]


class Watcher(threading.Thread):
    """Polls VictoriaMetrics: when each sensor reading (ms timestamp) became visible."""

    def __init__(self, vm: servers.VictoriaMetrics) -> None:
        super().__init__(daemon=True)
        self.vm = vm
        self.first_seen: Dict[int, float] = {}
        self.stop_event = threading.Event()
        self.lookback_s = 20.0

    def run(self) -> None:
        while not self.stop_event.wait(0.25):
            now = time.time()
            try:
                stamps = _seen(self.vm, int((now - self.lookback_s) * 1000))
            except (OSError, servers.ServerError):
                continue
            for stamp in stamps:
                self.first_seen.setdefault(stamp, now)


def _usage(procs: Dict[str, object], since: Dict[str, float], seconds: float) -> Dict[str, dict]:
    return {name: {"cpu_pct": 100 * (_cpu_seconds(p.pid) - since[name]) / seconds,
                   "rss_mb": _rss_mb(p.pid)} for name, p in procs.items()}


def run(ctx: Context) -> List[Row]:
    steady = 20.0 if ctx.settings.quick else 60.0
    broker = ctx.own_server(servers.Mosquitto(persistence=True))
    broker.start()
    vm = ctx.own_server(servers.VictoriaMetrics())
    vm.start()
    stream = SensorStream()
    procs = {"collector": _agent(ctx, "collector", _collector(broker.url, vm.url))}
    for i in range(AGENTS):
        procs[f"pi-{i:02d}"] = _agent(ctx, f"pi-{i:02d}", _pi(broker.url, i, "[[inputs.mem]]"))
    sensor = f'[[inputs.serial]]\n  port = "{stream.port}"\n  max_readings = 100000\n'
    procs["sensor"] = _agent(ctx, "sensor", _pi(broker.url, 99, sensor))
    time.sleep(5)  # start-up of 12 interpreters; the measurement window starts after it
    stream.start()
    watcher = Watcher(vm)
    watcher.start()
    ctx.log(f"mqtt: {AGENTS} mem agents + a {SENSOR_RATE}/s sensor agent; steady {steady:.0f}s")
    began, cpu0 = time.time(), {n: _cpu_seconds(p.pid) for n, p in procs.items()}
    broker_cpu0 = _cpu_seconds(broker.proc.pid)
    time.sleep(steady)
    usage = _usage(procs, cpu0, time.time() - began)
    broker_cpu = 100 * (_cpu_seconds(broker.proc.pid) - broker_cpu0) / (time.time() - began)
    window = [t for t in stream.written if began * 1e9 + 2e9 <= t <= (began + steady) * 1e9 - 5e9]
    time.sleep(3)
    latencies = sorted(watcher.first_seen.get(t // 1_000_000, float("inf")) - t / 1e9
                       for t in window)
    p99 = latencies[int(len(latencies) * 0.99)] if latencies else float("inf")
    p50 = latencies[len(latencies) // 2] if latencies else float("inf")
    mem_lines = len([t for t in _seen(vm, int(began * 1000), "mem_used")
                     if t <= (began + steady) * 1000])
    delivered = sum(1 for t in window if t // 1_000_000 in watcher.first_seen)
    ctx.log(f"mqtt: p50 {p50:.2f}s p99 {p99:.2f}s; broker down for {OUTAGE_SECONDS:.0f}s")
    broker.stop()
    outage_start_ns = time.time_ns()
    time.sleep(OUTAGE_SECONDS)
    outage_end_ns = time.time_ns()
    broker.start()
    back = time.monotonic()
    outage = [t for t in stream.written if outage_start_ns <= t <= outage_end_ns]
    deadline = back + 300
    while time.monotonic() < deadline:
        seen = set(_seen(vm, outage_start_ns // 1_000_000 - 1000))
        if all(t // 1_000_000 in seen for t in outage):
            break
        time.sleep(0.25)
    drain = time.monotonic() - back
    drained = all(t // 1_000_000 in seen for t in outage)
    stream.stop_event.set()
    watcher.stop_event.set()
    pis = [usage[n] for n in usage if n.startswith("pi-")]
    details = {"usage": usage, "broker_cpu_pct": broker_cpu, "p50_s": p50, "p99_s": p99,
               "sensor_lines_checked": len(window), "sensor_lines_delivered": delivered,
               "mem_lines": mem_lines, "outage_lines": len(outage), "drain_s": drain}
    ok = delivered == len(window) and drained
    window_s = steady - 7.0
    rate = delivered / window_s + mem_lines / steady
    return [
        Row("mqtt", f"fleet: {AGENTS} mem agents + {SENSOR_RATE}/s sensor -> broker -> "
            "collector -> VM", rate if ok else None, "lines/s", ok=ok,
            notes=f"{delivered} of {len(window)} sensor lines checked arrived",
            details=details),
        Row("mqtt", "gather -> VictoriaMetrics latency, p99 (p50)", p99, "s", ok=ok,
            notes=f"p50 {p50:.2f} s; flush 1 s on the Pi, 0.25 s on the collector"),
        Row("mqtt", "CPU per mem agent (1 Hz, mean)", sum(p["cpu_pct"] for p in pis) / len(pis),
            "% core", broker_cpu, "mosquitto", notes=f"RSS {max(p['rss_mb'] for p in pis):.0f} "
            "MB max"),
        Row("mqtt", "CPU sensor agent (1,000 lines/s)", usage["sensor"]["cpu_pct"], "% core",
            notes=f"RSS {usage['sensor']['rss_mb']:.0f} MB"),
        Row("mqtt", "CPU collector (everything)", usage["collector"]["cpu_pct"], "% core",
            notes=f"RSS {usage['collector']['rss_mb']:.0f} MB"),
        Row("mqtt", f"drain after a {OUTAGE_SECONDS:.0f} s broker outage", drain, "s",
            ok=drained, notes=f"{len(outage)} sensor lines waited in the sensor agent's spool"),
    ]
