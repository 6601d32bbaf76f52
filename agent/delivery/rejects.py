"""Which lines of a refused request the server rejects: bisection, as a pure function.

InfluxDB refuses a whole request for one line it cannot take (400: a parse error, a field type
conflict; 413: too large). Halving the request until every refused part is a single line
isolates those lines: the good ones land, each bad one comes back with the server's answer.
`send` is the only effect, so the logic is tested without a thread or a server.
"""

from __future__ import annotations

from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple

from agent.delivery.policy import OK, REJECT, Outcome
from agent.delivery.spool import Batch

Send = Callable[[str], Outcome]


class Verdict(NamedTuple):
    settled: int  # how many batches, from the first, are done: delivered or refused for good
    written: int  # lines the server accepted (in settled batches or not)
    rejected: List[Tuple[str, Outcome]]  # lines of settled batches refused for good
    stopped: Optional[Outcome] = None  # a retry/auth answer: the unsettled batches wait


def settle(send: Send, batches: Sequence[Batch]) -> Verdict:
    """Send the batches as one request; on a reject halve them, then a lone batch's lines.

    When an answer other than OK or REJECT comes (the server is down, the token wrong), the
    work stops there: batches before it are settled, the rest (including a batch whose lines
    were being bisected, some of which may have landed: at least once) wait for a retry."""
    outcome = send("".join(batch.text for batch in batches))
    if outcome.kind == OK:
        return Verdict(len(batches), sum(batch.count for batch in batches), [])
    if outcome.kind != REJECT:
        return Verdict(0, 0, [], outcome)
    if len(batches) == 1:
        return _split_lines(send, batches[0].lines(), outcome)
    middle = len(batches) // 2
    first = settle(send, batches[:middle])
    if first.stopped is not None:
        return first
    second = settle(send, batches[middle:])
    return Verdict(first.settled + second.settled, first.written + second.written,
                   first.rejected + second.rejected, second.stopped)


def _split_lines(send: Send, lines: List[str], answer: Outcome) -> Verdict:
    """The lines of one batch, refused together with `answer`: settled (1) or stopped (0)."""
    if len(lines) == 1:
        return Verdict(1, 0, [(lines[0], answer)])
    written, rejected = 0, []
    middle = len(lines) // 2
    for half in (lines[:middle], lines[middle:]):
        outcome = send("".join(half))
        if outcome.kind == OK:
            written += len(half)
            continue
        if outcome.kind != REJECT:
            return Verdict(0, written, [], outcome)
        part = _split_lines(send, half, outcome)
        written += part.written
        if part.stopped is not None:
            return Verdict(0, written, [], part.stopped)
        rejected += part.rejected
    return Verdict(1, written, rejected)
