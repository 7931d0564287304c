"""Waiting for a condition with a deadline: the one place tests poll."""

from __future__ import annotations

from collections.abc import Callable

import anyio


async def wait_until(
    predicate: Callable[[], bool], *, timeout: float = 10.0, interval: float = 0.01
) -> None:
    """Return once predicate() is true; fail the test after `timeout` seconds.

    For conditions nothing signals (state spread over several tasks); where an event
    exists, wait on the event instead.
    """
    with anyio.fail_after(timeout):
        while not predicate():  # noqa: ASYNC110 - polling is the point here
            await anyio.sleep(interval)
