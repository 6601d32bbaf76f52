"""The script side of the listener benchmark, in its own process:

    python -m tests.benchmarks.listener_client MODE URL MEASUREMENT COUNT REQUEST_SIZE START_NS

influxdb-client in SYNCHRONOUS mode writes COUNT sensor points (tests/benchmarks/writers.py's
data) in requests of REQUEST_SIZE points, one after the other, as a script does. MODE points:
prebuilt Point objects, which the client encodes in write() (as bench_write's client, and as a
script pays); MODE lines: line protocol encoded beforehand, so that each write() is the time
from the request to its 2xx. Prints one JSON object:
{"seconds": total, "latencies_ms": [per write()]}.
"""

from __future__ import annotations

import json
import sys
import time

from tests.benchmarks.writers import sensor_lines, sensor_points


def main(mode: str, url: str, measurement: str, count: int, size: int, start: int) -> dict:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    if mode == "points":
        points = sensor_points(measurement, count, start)
        records = [points[i:i + size] for i in range(0, count, size)]
    else:
        lines = list(sensor_lines(measurement, count, start))
        records = ["".join(lines[i:i + size]) for i in range(0, count, size)]
    latencies = []
    with InfluxDBClient(url=url, token="bench", org="bench", timeout=60_000) as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        began = time.perf_counter()
        for record in records:
            sent = time.perf_counter()
            write_api.write(bucket="bench", record=record)
            latencies.append((time.perf_counter() - sent) * 1000)
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "latencies_ms": latencies}


if __name__ == "__main__":
    mode, url, measurement, count, size, start = sys.argv[1:7]
    print(json.dumps(main(mode, url, measurement, int(count), int(size), int(start))))
