"""Supervised workers and the watchdog rule, in-process with their own Supervisor (never the
process-wide one) and, for stalls and ping times, a clock the test moves."""

from __future__ import annotations

import logging
import threading

from agent.system.backoff import Backoff
from agent.system.watchdog import Watchdog
from agent.system.worker import Supervisor, Worker
from tests.serial_emulator import wait_for


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fast_worker(supervisor, body, **kwargs):
    kwargs.setdefault("backoff", Backoff(first=0.01, cap=0.02))
    return Worker("test worker", body, supervisor=supervisor, **kwargs)


def test_an_exception_is_logged_once_with_where_counted_and_the_body_restarted(caplog):
    supervisor, runs, done = Supervisor(), [], threading.Event()

    def body(worker):
        runs.append(1)
        if len(runs) == 1:
            {}["missing"]
        done.set()
        while not worker.sleep(0.01):
            pass

    worker = fast_worker(supervisor, body).start()
    try:
        assert done.wait(10)
        assert supervisor.stats() == [{"worker": "test worker", "errors": 1, "restarts": 1,
                                       "healthy": 1}]
    finally:
        assert worker.stop(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith("test worker failed: KeyError: 'missing' (at system/"
                                "test_worker.py:")
    assert " in body); restarting in 0.0s" in errors[0]
    assert (supervisor.failures, supervisor.restarts) == (1, 1)
    assert worker.finished and supervisor.current() == [] and not supervisor.fatal.is_set()


def test_a_body_that_returns_unasked_is_restarted():
    supervisor, runs = Supervisor(), []
    worker = fast_worker(supervisor, lambda w: runs.append(1) if len(runs) < 2 else w.sleep(60))
    worker.start()
    try:
        assert wait_for(lambda: len(runs) == 2 and worker.restarts == 2)
    finally:
        worker.stop(5)


def test_one_that_keeps_failing_gives_up_and_calls_the_fatal_handler(caplog):
    supervisor, reasons = Supervisor(), []
    supervisor.on_fatal = reasons.append

    def body(worker):
        raise OSError("disk on fire")

    worker = fast_worker(supervisor, body, max_failures=3).start()
    assert supervisor.fatal.wait(10)
    assert wait_for(lambda: not worker.alive)
    assert reasons == [supervisor.fatal_reason]
    assert supervisor.fatal_reason.startswith("test worker: OSError: disk on fire (at ")
    assert worker.failures == 4 and worker.restarts == 3 and supervisor.restarts == 3
    assert supervisor.unhealthy() == ["test worker: not running"]
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(messages) == 4 and "failed 4 times in a row" in messages[-1]


def test_a_thread_killed_by_a_non_exception_gives_up_at_once():
    supervisor = Supervisor()

    def body(worker):
        raise SystemExit(3)

    worker = fast_worker(supervisor, body).start()
    assert supervisor.fatal.wait(10)
    assert supervisor.fatal_reason == "test worker: killed by SystemExit"
    assert wait_for(lambda: not worker.alive)
    assert supervisor.unhealthy() == ["test worker: not running"]


def test_busy_past_stall_after_is_stuck_but_waiting_by_design_is_not():
    clock = Clock()
    supervisor = Supervisor(clock=clock)
    phase, entered = {"value": "wait"}, threading.Event()
    release = threading.Event()

    def body(worker):
        with worker.waiting():
            entered.set()
            release.wait(30)
        phase["value"] = "busy"
        entered.set()
        worker.stopping.wait(30)  # busy: no beat, no waiting()

    worker = Worker("busy", body, stall_after=5.0, supervisor=supervisor).start()
    try:
        assert entered.wait(10)
        clock.now += 3600
        assert supervisor.unhealthy() == [], "a long wait by design is healthy"
        entered.clear()
        release.set()
        assert entered.wait(10) and wait_for(lambda: phase["value"] == "busy")
        clock.now += 4
        assert supervisor.unhealthy() == []
        clock.now += 2
        assert supervisor.unhealthy() == ["busy: no progress for 6s"]
        assert supervisor.stats()[0]["healthy"] == 0
        worker.beat()
        assert supervisor.unhealthy() == []
    finally:
        worker.stop(5)
    assert supervisor.unhealthy() == [], "a stopped worker is not a problem"


def test_stop_is_prompt_during_a_restart_backoff():
    supervisor = Supervisor()

    def body(worker):
        raise RuntimeError("again")

    worker = Worker("slow backoff", body, backoff=Backoff(first=3600, cap=3600),
                    supervisor=supervisor).start()
    assert wait_for(lambda: worker.failures == 1)
    assert worker.stop(5)
    assert worker.finished and not supervisor.fatal.is_set()


def test_the_watchdog_pings_on_time_only_while_every_worker_is_healthy(caplog):
    caplog.set_level(logging.INFO, logger="agent")
    clock, sent = Clock(), []
    supervisor = Supervisor(clock=clock)
    worker = Worker("stuck", lambda w: w.stopping.wait(30), stall_after=10,
                    supervisor=supervisor).start()
    watchdog = Watchdog(supervisor, 5.0, notify=sent.append, clock=clock)
    try:
        for _ in range(100):  # woken up often (signals): still one ping per interval
            watchdog.tick()
            clock.now += 0.1
        assert sent == ["WATCHDOG=1"] * 2 and watchdog.timeout() == 0.0
        clock.now += 10  # the worker has not beaten for 20 s
        for _ in range(4):
            watchdog.tick()
            clock.now += 5
        assert len(sent) == 2, "no ping while a worker is stuck"
        worker.beat()
        watchdog.tick()
        assert len(sent) == 3
    finally:
        worker.stop(5)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["Not feeding the systemd watchdog (it restarts the unit): stuck: no "
                      "progress for 20s"]
    assert any("healthy again" in r.getMessage() for r in caplog.records)


def test_no_watchdog_asked_for_means_no_ping_and_no_timeout():
    sent = []
    watchdog = Watchdog(Supervisor(), 0.0, notify=sent.append)
    watchdog.tick()
    assert sent == [] and watchdog.timeout() is None
