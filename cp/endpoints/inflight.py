"""Requests being served: the max-in-flight limits and the request timeout, together.

kube-apiserver's WithMaxInFlightLimit answers 429 once too many requests of a kind
(read-only, mutating) are being served, and WithTimeoutForNonLongRunningRequests
answers 504 for one still running past its deadline.  Both need the same thing, the
set of requests in flight, so one object keeps it.

Why a sweeper rather than a cancel scope per request: kube's timeout filter does not
stop the handler either.  It writes the 504, cancels the request's context and leaves
the handler to notice.  Here the sweeper answers 504 for a request past its deadline
that has not begun its response; whatever the handler sends afterwards is dropped
(`Answer.expire`), and a handler whose body arrives only after its 504 stops there
(`Request.expired`), before it acts on it.  Every other wait inside a handler is
bounded on its own (store calls, cache waits).  A cancel scope per request would cost
on every request what the sweeper costs only when a deadline falls due: on asyncio an
anyio CancelScope is about 3% of a create's instructions (`python -m bench
instructions`).  Deadlines are honoured as they fall due: the sweeper sleeps until the
soonest one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from typing import Protocol

import anyio

from cp.meta import status
from cp.meta.status import ApiError

IDLE_SWEEP_SECONDS = 1.0
READ_ONLY = "readOnly"
MUTATING = "mutating"
TIMEOUT_MESSAGE = "request did not complete within requested timeout - context deadline exceeded"


class Answer(Protocol):
    """What the sweeper needs of a request being served."""

    deadline: float

    def expire(self, error: ApiError) -> Awaitable[None]:
        """Answer `error` unless the response has begun; drop the handler's answer."""
        ...


class InFlight:
    """The requests being served, by kind, each with its deadline (time.monotonic)."""

    def __init__(self, max_readonly: int, max_mutating: int) -> None:
        self.limits = {READ_ONLY: max_readonly, MUTATING: max_mutating}
        self.requests: dict[str, set[Answer]] = {READ_ONLY: set(), MUTATING: set()}
        # When the sweeper looks next; a request due sooner wakes it (it rarely is:
        # deadlines are set by the default timeout, far beyond the next sweep).
        self._next_sweep = -math.inf
        self._wake: anyio.Event | None = None

    def enter(self, kind: str, answer: Answer) -> None:
        """Count `answer` in; 429 when its kind is at its limit."""
        requests = self.requests[kind]
        if len(requests) >= self.limits[kind]:
            raise status.too_many_requests("Too many requests, please try again later.")
        requests.add(answer)
        if answer.deadline < self._next_sweep and self._wake is not None:
            self._wake.set()

    def leave(self, kind: str, answer: Answer) -> None:
        self.requests[kind].discard(answer)

    async def run(self, *, idle_sweep: float = IDLE_SWEEP_SECONDS) -> None:
        """Answer 504 for requests past their deadline, until cancelled.

        The sweeper sleeps until the soonest deadline, and at most `idle_sweep`.  Each
        504 goes out in its own task, so a client slow to read it holds up no other;
        the request leaves the in-flight set at once, as kube's filter releases its
        slot when it answers.
        """
        async with anyio.create_task_group() as tg:
            while True:
                now = time.monotonic()
                for expired in self._take_expired(now):
                    tg.start_soon(expired.expire, status.timeout(TIMEOUT_MESSAGE))
                soonest = min(
                    (a.deadline for requests in self.requests.values() for a in requests),
                    default=math.inf,
                )
                self._next_sweep = min(soonest, now + idle_sweep)
                self._wake = wake = anyio.Event()
                with anyio.move_on_after(self._next_sweep - now):
                    await wake.wait()

    def _take_expired(self, now: float) -> list[Answer]:
        taken: list[Answer] = []
        for requests in self.requests.values():
            late = [a for a in requests if a.deadline <= now]
            requests.difference_update(late)
            taken += late
        return taken
