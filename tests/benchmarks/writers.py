"""The data every write benchmark sends, and the two writers that run in their own process.

    python -m tests.benchmarks.writers agent CONFIG FILE
    python -m tests.benchmarks.writers client URL MEASUREMENT COUNT BATCH_SIZE ENCODING START_NS

`agent`: `agent write` in-process: config loaded and every module imported first, then only
run_write() is timed (read, validate, spool, deliver, flush). `client`: influxdb-client's
batching WriteApi fed prebuilt Point objects: write() + close() (which flushes) are timed,
building the Points is not. Both print one JSON object: {"seconds": ..., ...}.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Iterator, List

SERIES = 100  # 10 rooms x 10 devices
STEP_NS = 1_000_000  # 1 ms between points: unique series + time, even for VictoriaMetrics


def start_ns() -> int:
    """Three hours ago, on a second: old enough to be visible in VictoriaMetrics at once."""
    return (time.time_ns() // 1_000_000_000 - 3 * 3600) * 1_000_000_000


def sensor_values(i: int):
    return f"dev{i % 10}", f"room{i // 10 % 10}", 400 + i % 600, 30 + i % 70 / 10, \
        20 + i % 100 / 100


def sensor_lines(measurement: str, count: int, start: int) -> Iterator[str]:
    for i in range(count):
        device, room, co2, humidity, temperature = sensor_values(i)
        yield (f"{measurement},device={device},room={room} co2={co2}i,humidity={humidity},"
               f"temperature={temperature} {start + i * STEP_NS}\n")


def write_file(path: str, measurement: str, count: int, start: int) -> int:
    """The lines to a file; returns its size in bytes."""
    size = 0
    with open(path, "w") as handle:
        chunk: List[str] = []
        for line in sensor_lines(measurement, count, start):
            chunk.append(line)
            if len(chunk) == 10_000:
                size += handle.write("".join(chunk))
                chunk = []
        size += handle.write("".join(chunk))
    return size


def sensor_points(measurement: str, count: int, start: int) -> list:
    from influxdb_client import Point, WritePrecision

    points = []
    for i in range(count):
        device, room, co2, humidity, temperature = sensor_values(i)
        points.append(Point(measurement).tag("device", device).tag("room", room)
                      .field("co2", co2).field("humidity", humidity)
                      .field("temperature", temperature)
                      .time(start + i * STEP_NS, WritePrecision.NS))
    return points


def agent_in_process(config_path: str, source: str) -> dict:
    import influxdb_client  # noqa: F401
    import influxdb_client.client.write_api  # noqa: F401

    import agent.outputs.influxdb  # noqa: F401 - imported before the clock starts
    import agent.outputs.influxdb_v2  # noqa: F401
    from agent.commands.write import run_write
    from agent.config.loader import load
    from agent.system import log as logsetup

    logsetup.setup(logsetup.choose_dialect(False), False, False)
    config = load(config_path, require_inputs=False)  # as `agent write` loads it
    started = time.perf_counter()
    code = run_write(config, source)
    return {"seconds": time.perf_counter() - started, "code": code}


def client_batching(url: str, measurement: str, count: int, batch: int, gzip: bool,
                    start: int) -> dict:
    from influxdb_client import InfluxDBClient, WriteOptions

    built = time.perf_counter()
    points = sensor_points(measurement, count, start)
    started = time.perf_counter()
    client = InfluxDBClient(url=url, token="bench", org="bench", enable_gzip=gzip)
    write_api = client.write_api(write_options=WriteOptions(batch_size=batch))
    write_api.write(bucket="bench", org="bench", record=points)
    write_api.close()
    client.close()
    return {"seconds": time.perf_counter() - started, "build_seconds": started - built}


def main(argv: List[str]) -> None:
    if argv[0] == "agent":
        result = agent_in_process(argv[1], argv[2])
    else:
        url, measurement, count, batch, encoding, start = argv[1:7]
        result = client_batching(url, measurement, int(count), int(batch), encoding == "gzip",
                                 int(start))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
