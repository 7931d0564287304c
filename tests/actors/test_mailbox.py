from __future__ import annotations

import anyio
import pytest

from actors import Mailbox, MailboxFull
from actors._mailbox import MailboxClosed

from .helpers import settle

pytestmark = pytest.mark.anyio


async def test_fifo_and_statistics() -> None:
    mailbox: Mailbox[int] = Mailbox(3, owner="box")
    await mailbox.put(1)
    mailbox.put_nowait(2)
    assert len(mailbox) == 2
    assert [await mailbox.get(), await mailbox.get()] == [1, 2]
    stats = mailbox.statistics()
    assert (stats.capacity, stats.depth, stats.total_put) == (3, 0, 2)
    assert (stats.total_rejected, stats.total_dropped, stats.waiting_senders) == (0, 0, 0)
    mailbox.close()


async def test_put_nowait_on_full_mailbox_raises_and_counts() -> None:
    mailbox: Mailbox[int] = Mailbox(2, owner="box")
    mailbox.put_nowait(1)
    mailbox.put_nowait(2)
    with pytest.raises(MailboxFull, match=r"'box' is full \(capacity 2\)") as info:
        mailbox.put_nowait(3)
    assert (info.value.owner, info.value.capacity) == ("box", 2)
    assert mailbox.statistics().total_rejected == 1
    assert mailbox.statistics().depth == 2
    mailbox.close()


async def test_put_waits_for_room() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    mailbox.put_nowait(1)
    async with anyio.create_task_group() as tg:
        tg.start_soon(mailbox.put, 2)
        await settle()
        assert mailbox.statistics().waiting_senders == 1
        assert await mailbox.get() == 1
    assert await mailbox.get() == 2
    mailbox.close()


async def test_close_returns_undelivered_and_refuses_more() -> None:
    mailbox: Mailbox[int] = Mailbox(2)
    mailbox.put_nowait(1)
    mailbox.put_nowait(2)
    assert mailbox.close() == [1, 2]
    assert mailbox.close() == []
    assert mailbox.closed
    assert mailbox.statistics().total_dropped == 2
    with pytest.raises(MailboxClosed):
        mailbox.put_nowait(3)
    with pytest.raises(MailboxClosed):
        await mailbox.put(3)
    with pytest.raises(MailboxClosed):
        await mailbox.get()


async def test_close_wakes_a_waiting_getter() -> None:
    mailbox: Mailbox[int] = Mailbox(1)
    outcome: list[str] = []

    async def getter() -> None:
        with pytest.raises(MailboxClosed):
            await mailbox.get()
        outcome.append("closed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(getter)
        await settle()
        assert mailbox._receive.statistics().tasks_waiting_receive == 1
        mailbox.close()
    assert outcome == ["closed"]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Mailbox(0)
