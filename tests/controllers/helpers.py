"""Shared by the controller tests: condition waits with deadlines, and a virtual clock."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import trio
import trio.testing


def run_with_mock_clock(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run under trio's virtual clock: backoffs and delays, instantly and exactly."""
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


async def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 10.0, interval: float = 0.005
) -> None:
    """Poll ``predicate`` (sync or async) until it holds; fail after ``timeout`` seconds.

    For states with no event of their own (e.g. two stores agreeing): a condition with
    a deadline, never a bare sleep standing in for one.
    """
    with anyio.fail_after(timeout):
        while True:
            outcome = predicate()
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if outcome:
                return
            await anyio.sleep(interval)


async def settle(timeout: float = 5.0) -> None:
    """Let every other task run until it blocks, so the state is stable to assert on."""
    with anyio.fail_after(timeout):
        await anyio.wait_all_tasks_blocked()
