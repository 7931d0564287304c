"""Test actors and helpers shared by the actors test suite."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import trio
import trio.testing

from actors import Actor, RequestError


class Journal(list[tuple[str, str]]):
    """What happened, in order: ("start", name), ("stop", name), ..."""

    def of(self, kind: str) -> list[str]:
        return [name for event, name in self if event == kind]


class Worker(Actor):
    """Counts messages; "crash" crashes it, "bad" is a bad request, "exit" ends it normally,
    "block" waits on its gate; every start and stop goes to the journal."""

    def __init__(
        self,
        journal: Journal | None = None,
        *,
        gate: anyio.Event | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.journal = journal if journal is not None else Journal()
        self.gate = gate
        self.count = 0

    async def on_start(self) -> None:
        self.journal.append(("start", self.name))

    async def on_stop(self) -> None:
        self.journal.append(("stop", self.name))

    async def handle(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"{self.name} crashed")
        if message == "bad":
            raise RequestError("bad request")
        if message == "exit":
            await self.stop()
        if message == "block":
            assert self.gate is not None
            await self.gate.wait()
            return "unblocked"
        if message == "count":
            return self.count
        self.count += 1
        return self.count


class CrashingRun(Actor):
    """Crashes as soon as it runs: the shortest crash loop."""

    def __init__(self, starts: list[float] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.starts = starts if starts is not None else []

    async def on_start(self) -> None:
        self.starts.append(anyio.current_time())

    async def run(self) -> None:
        raise RuntimeError(f"{self.name} crash loop")


def run_with_mock_clock(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run under trio's virtual clock: time-dependent behaviour, instantly and exactly."""
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


async def settle(timeout: float = 5.0) -> None:
    """Let every other task run until it blocks, so the state is stable to assert on.

    For states that have no event of their own; no sleeping, and a deadline in case
    something never blocks.
    """
    with anyio.fail_after(timeout):
        await anyio.wait_all_tasks_blocked()
