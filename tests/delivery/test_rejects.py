"""The reject bisection on its own: a pure function of the batches and a `send` that answers
like a server (no thread, no spool, no network)."""

from agent.delivery.policy import AUTH, OK, REJECT, RETRY, Outcome
from agent.delivery.rejects import settle
from agent.delivery.spool import Batch


def batches_of(*groups):
    return [Batch(i, "", len(lines), "".join(lines)) for i, lines in enumerate(groups, 1)]


REFUSED = Outcome(RETRY, 0, "connection refused")


class Server:
    """Refuses a body holding a line with "bad"; can be told to go away after n requests."""

    def __init__(self, down_after=None, down=REFUSED):
        self.bodies, self.down_after, self.down = [], down_after, down
        self.stored = []

    def __call__(self, body):
        self.bodies.append(body)
        if self.down_after is not None and len(self.bodies) > self.down_after:
            return self.down
        if "bad" in body:
            return Outcome(REJECT, 400, "unable to parse")
        self.stored += body.splitlines(keepends=True)
        return Outcome(OK, 204)


def test_all_good_is_one_request_and_settles_everything():
    server = Server()
    verdict = settle(server, batches_of(["a 1\n", "b 2\n"], ["c 3\n"]))
    assert verdict == (2, 3, [], None)
    assert server.bodies == ["a 1\nb 2\nc 3\n"]


def test_bad_lines_are_isolated_and_every_good_line_lands_once():
    lines = [f"m v={i} {i}\n" for i in range(10)]
    lines[3], lines[8] = "bad 3\n", "bad 8\n"
    server = Server()
    verdict = settle(server, batches_of(lines[:5], lines[5:]))
    assert verdict.settled == 2 and verdict.stopped is None
    assert [line for line, _ in verdict.rejected] == ["bad 3\n", "bad 8\n"]
    assert all(answer.status == 400 for _, answer in verdict.rejected)
    good = [line for line in lines if "bad" not in line]
    assert sorted(server.stored) == sorted(good) and verdict.written == len(good)


def test_a_batch_that_is_all_bad_needs_no_request_per_line_beyond_the_halves():
    server = Server()
    verdict = settle(server, batches_of(["bad 1\n"]))
    assert verdict.rejected == [("bad 1\n", Outcome(REJECT, 400, "unable to parse"))]
    assert len(server.bodies) == 1 and verdict.settled == 1


def test_an_outage_during_bisection_stops_and_settles_only_what_is_done():
    lines = [f"m v={i} {i}\n" for i in range(8)]
    lines[6] = "bad 6\n"
    first, second = ["ok 1\n", "ok 2\n"], lines
    # request 1: everything (rejected); 2: first batch (ok); 3: second batch (rejected);
    # 4: its first half (ok); then the server is gone.
    server = Server(down_after=4)
    verdict = settle(server, batches_of(first, second))
    assert verdict.stopped == REFUSED
    assert verdict.settled == 1, "the batch being bisected waits for the retry"
    assert verdict.rejected == [], "its bad line is found again then, not dead-lettered twice"
    assert verdict.written == 2 + 4


def test_an_auth_answer_stops_at_once():
    server = Server(down_after=0, down=Outcome(AUTH, 401, "unauthorized"))
    verdict = settle(server, batches_of(["a 1\n"], ["b 2\n"]))
    assert verdict == (0, 0, [], Outcome(AUTH, 401, "unauthorized"))
