"""The writer is a supervised worker: an unexpected exception is logged once with its name,
counted and the writer restarted (delivery goes on); a writer stuck in a request stops beating
and is reported unhealthy, which is what stops the systemd watchdog."""

from __future__ import annotations

import logging
import socket

from agent.delivery.deadletter import DeadLetters
from agent.delivery.spool import MemorySpool
from agent.delivery.writer import Writer
from agent.outputs.influxdb import InfluxDBOutput, InfluxV1Transport
from agent.system.worker import Supervisor
from tests.delivery_helpers import wait_until

log = logging.getLogger("test.writer")


class FlakySpool(MemorySpool):
    """Its first peek fails the way a broken disk would make it fail."""

    failures = 1

    def peek(self, count):
        if self.failures:
            self.failures -= 1
            raise RuntimeError("disk on fire")
        return super().peek(count)


def writer_for(spool, url: str, db: str, supervisor: Supervisor, timeout: float = 5.0,
               stall_after=None) -> Writer:
    output = InfluxDBOutput(urls=[url], database=db, timeout=timeout,
                            skip_database_creation=True)
    return Writer("outputs.influxdb", spool, InfluxV1Transport(output), DeadLetters(None), 100,
                  0.1, 0.0, log, 1.0, stall_after=stall_after, supervisor=supervisor)


def test_an_unexpected_exception_is_logged_counted_and_the_writer_restarts(influxdb1, caplog):
    influxdb1.create_database("flaky")
    supervisor = Supervisor()
    spool = FlakySpool(1000, 100)
    writer = writer_for(spool, influxdb1.url, "flaky", supervisor)
    writer.start()
    spool.put([f"m v={i}i {1_700_000_000_000_000_000 + i}\n" for i in range(10)])
    writer.added(10)
    try:
        assert wait_until(lambda: len(influxdb1.rows("SELECT v FROM m", db="flaky")) == 10, 20)
    finally:
        writer.stop(1.0)
    failures = [r.getMessage() for r in caplog.records if "disk on fire" in r.getMessage()]
    assert len(failures) == 1 and failures[0].startswith("writer outputs.influxdb failed: ")
    assert writer.worker.failures == 1 and supervisor.restarts == 1
    assert len(spool) == 0


def test_a_writer_stuck_in_a_request_is_reported_unhealthy(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(10)  # accepts; never answers
    supervisor = Supervisor()
    spool = MemorySpool(1000, 100)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}"
    writer = writer_for(spool, url, "stuck", supervisor, timeout=60.0, stall_after=1.0)
    writer.start()
    try:
        assert supervisor.unhealthy() == []
        spool.put(["m v=1i 1\n"] * 100)
        writer.added(100)
        assert wait_until(lambda: supervisor.unhealthy() != [], 20)
        (problem,) = supervisor.unhealthy()
        assert problem.startswith("writer outputs.influxdb: no progress for ")
    finally:
        writer.stop(0.0, join=0.1)
        silent.close()
