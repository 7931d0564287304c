from __future__ import annotations

import dataclasses
from typing import Any

import anyio
import pytest

from actors import (
    Actor,
    ActorState,
    ActorStatistics,
    Bus,
    LatencyStatistics,
    MailboxStatistics,
    RequestError,
)

from .helpers import Worker, run_with_mock_clock


class Sleeper(Actor):
    """Takes as long as the message says: latency with exact values on a virtual clock."""

    async def handle(self, message: Any) -> Any:
        if message == "bad":
            raise RequestError("bad")
        await anyio.sleep(message)
        return message


def test_actor_statistics_count_messages_errors_and_latency() -> None:
    async def main() -> ActorStatistics:
        actor = Sleeper(name="s", mailbox_size=8)
        async with anyio.create_task_group() as tg:
            await tg.start(actor.serve)
            await actor.ask(1.0)
            await actor.ask(3.0)
            with pytest.raises(RequestError):
                await actor.ask("bad")
            stats = actor.statistics()
            await actor.stop()
        return stats

    stats = run_with_mock_clock(main)
    assert stats.name == "s"
    assert stats.state is ActorState.RUNNING
    assert (stats.handled, stats.errors, stats.dropped, stats.restarts) == (3, 1, 0, 0)
    assert stats.latency == LatencyStatistics(count=3, total=4.0, max=3.0)
    assert stats.latency.mean == pytest.approx(4.0 / 3)
    assert stats.mailbox == MailboxStatistics(
        capacity=8, depth=0, total_put=3, total_rejected=0, total_dropped=0, waiting_senders=0
    )


@pytest.mark.anyio
async def test_mailbox_statistics_of_an_actor_track_depth_and_undelivered_messages() -> None:
    worker = Worker(mailbox_size=4)
    for i in range(3):
        worker.tell_nowait(i)  # queued before start: allowed, up to the capacity
    assert worker.statistics().mailbox.depth == 3
    await worker.stop()
    mailbox = worker.statistics().mailbox
    assert (mailbox.depth, mailbox.total_put, mailbox.total_dropped) == (0, 3, 3)
    assert worker.statistics().state is ActorState.STOPPED


def test_snapshots_are_frozen() -> None:
    stats = Bus().statistics()
    with pytest.raises(dataclasses.FrozenInstanceError):
        stats.published = 1  # type: ignore[misc]
    assert LatencyStatistics(count=0, total=0.0, max=0.0).mean == 0.0
