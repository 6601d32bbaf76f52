"""The script side of the listener benchmark, in its own process:

    python -m tests.benchmarks.listener_client URL MEASUREMENT COUNT REQUEST_SIZE START_NS

influxdb-client in SYNCHRONOUS mode writes COUNT sensor points (tests/benchmarks/writers.py's
data) in requests of REQUEST_SIZE lines, one after the other, as a script does. The lines are
encoded before the clock starts; each write() is timed from the call to its 2xx. Prints one
JSON object: {"seconds": total, "latencies_ms": [per request]}.
"""

from __future__ import annotations

import json
import sys
import time

from tests.benchmarks.writers import sensor_lines


def main(url: str, measurement: str, count: int, size: int, start: int) -> dict:
    from influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS

    lines = list(sensor_lines(measurement, count, start))
    bodies = ["".join(lines[i:i + size]) for i in range(0, count, size)]
    latencies = []
    with InfluxDBClient(url=url, token="bench", org="bench", timeout=60_000) as client:
        write_api = client.write_api(write_options=SYNCHRONOUS)
        began = time.perf_counter()
        for body in bodies:
            sent = time.perf_counter()
            write_api.write(bucket="bench", record=body)
            latencies.append((time.perf_counter() - sent) * 1000)
        seconds = time.perf_counter() - began
    return {"seconds": seconds, "latencies_ms": latencies}


if __name__ == "__main__":
    url, measurement, count, size, start = sys.argv[1:6]
    print(json.dumps(main(url, measurement, int(count), int(size), int(start))))
