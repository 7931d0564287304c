from __future__ import annotations

from typing import Any

import anyio
import pytest

from actors import (
    Actor,
    ActorCrashed,
    ActorState,
    ActorStopped,
    AskTimeout,
    MailboxFull,
    RequestError,
)

from .helpers import Journal, Worker, run_with_mock_clock, settle

pytestmark = pytest.mark.anyio


async def test_ask_returns_the_reply_and_tell_is_ordered() -> None:
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker().serve)
        await worker.tell("x")
        worker.tell_nowait("y")
        assert await worker.ask("count") == 2
        assert await worker.ask("z") == 3
        await worker.stop()


async def test_start_reports_ready_after_on_start() -> None:
    journal = Journal()
    async with anyio.create_task_group() as tg:
        worker = Worker(journal, name="w")
        assert worker.state is ActorState.NEW
        started = await tg.start(worker.serve)
        assert started is worker
        assert journal == [("start", "w")]
        assert worker.statistics().state is ActorState.RUNNING
        await worker.stop()
    assert journal == [("start", "w"), ("stop", "w")]
    assert worker.state is ActorState.STOPPED


async def test_ask_times_out() -> None:
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(gate=gate).serve)
        with pytest.raises(AskTimeout, match="did not answer within 0.05s") as info:
            await worker.ask("block", timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        gate.set()
        assert await worker.ask("count") == 0
        await worker.stop()


async def test_tell_nowait_raises_when_the_mailbox_is_full() -> None:
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(gate=gate, name="w", mailbox_size=2).serve)
        worker.tell_nowait("block")
        await settle()  # taken, blocking
        assert worker.statistics().mailbox.depth == 0
        worker.tell_nowait(1)
        worker.tell_nowait(2)
        with pytest.raises(MailboxFull, match="'w' is full"):
            worker.tell_nowait(3)
        gate.set()
        assert await worker.ask("count") == 2
        assert worker.statistics().mailbox.total_rejected == 1
        await worker.stop()


async def test_tell_waits_for_room() -> None:
    gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(gate=gate, mailbox_size=1).serve)
        worker.tell_nowait("block")
        await settle()
        assert worker.statistics().mailbox.depth == 0
        worker.tell_nowait(1)
        tg.start_soon(worker.tell, 2)
        await settle()
        assert worker.statistics().mailbox.waiting_senders == 1
        gate.set()
        assert await worker.ask("count") == 2
        await worker.stop()


async def test_bad_request_goes_to_the_asker_and_the_actor_carries_on() -> None:
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker().serve)
        await worker.ask(1)
        with pytest.raises(RequestError, match="bad request"):
            await worker.ask("bad")
        await worker.tell("bad")  # no asker: counted as an error only
        assert await worker.ask("count") == 1
        assert worker.state is ActorState.RUNNING
        assert worker.statistics().errors == 2
        await worker.stop()


class Parser(Actor):
    request_errors = (ValueError,)

    async def handle(self, message: Any) -> Any:
        return int(message)


async def test_request_errors_are_configurable() -> None:
    async with anyio.create_task_group() as tg:
        parser = await tg.start(Parser().serve)
        with pytest.raises(ValueError, match="invalid literal"):
            await parser.ask("nope")
        assert await parser.ask("42") == 42
        await parser.stop()


async def test_handler_crash_crashes_the_actor_and_fails_askers() -> None:
    gate = anyio.Event()
    worker = Worker(gate=gate, name="w")
    outcomes: dict[str, BaseException] = {}

    async def ask(message: str) -> None:
        try:
            await worker.ask(message)
        except Exception as error:
            outcomes[message] = error

    with pytest.RaisesGroup(pytest.RaisesExc(RuntimeError, match="w crashed")):
        async with anyio.create_task_group() as tg:
            await tg.start(worker.serve)
            await worker.tell("block")
            tg.start_soon(ask, "crash")
            await settle()
            assert worker.statistics().mailbox.depth == 1
            tg.start_soon(ask, "queued")
            await settle()
            assert worker.statistics().mailbox.depth == 2
            gate.set()
            await worker.wait_stopped()
    crashed = outcomes["crash"]
    assert isinstance(crashed, ActorCrashed)
    assert isinstance(crashed.__cause__, RuntimeError)
    assert type(outcomes["queued"]) is ActorStopped
    assert worker.state is ActorState.FAILED
    assert worker.journal.of("stop") == ["w"]  # on_stop runs after a crash too


async def test_serve_raises_the_crash_itself_not_a_group() -> None:
    worker = Worker()
    worker.tell_nowait("crash")
    with pytest.raises(RuntimeError):
        await worker.serve()


async def test_on_start_failure_fails_start_and_skips_on_stop() -> None:
    class Broken(Worker):
        async def on_start(self) -> None:
            await super().on_start()
            raise OSError("no connection")

    broken = Broken(name="b")
    async with anyio.create_task_group() as tg:
        with pytest.raises(OSError, match="no connection"):
            await tg.start(broken.serve)
    assert broken.journal == [("start", "b")]
    assert broken.state is ActorState.FAILED


async def test_stopped_actor_refuses_messages() -> None:
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(name="w").serve)
        await worker.stop()
    with pytest.raises(ActorStopped, match="'w' is not running"):
        await worker.tell(1)
    with pytest.raises(ActorStopped):
        worker.tell_nowait(1)
    with pytest.raises(ActorStopped):
        await worker.ask(1)


async def test_stop_before_start_and_an_instance_runs_only_once() -> None:
    never = Worker()
    await never.stop()
    assert never.state is ActorState.STOPPED
    with pytest.raises(RuntimeError, match="fresh instance"):
        await never.serve()

    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker().serve)
        await worker.stop()
    with pytest.raises(RuntimeError, match="fresh instance"):
        await worker.serve()


async def test_exit_from_a_handler_is_a_normal_end() -> None:
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker().serve)
        with pytest.raises(ActorStopped):
            await worker.ask("exit")
        await worker.wait_stopped()
    assert worker.state is ActorState.STOPPED


class StreamConsumer(Actor):
    """A controller shape: a background task consumes a stream, the mailbox serialises."""

    def __init__(self, stream: anyio.abc.ObjectReceiveStream[int]) -> None:
        super().__init__()
        self.stream = stream
        self.seen: list[int] = []
        self.follower_cancelled = anyio.Event()

    async def run(self) -> None:
        self.spawn(self.follow)
        await self.process_messages()

    async def follow(self) -> None:
        try:
            async for item in self.stream:
                await self.tell(("event", item))
            await self.tell(("end", None))
        except anyio.get_cancelled_exc_class():
            self.follower_cancelled.set()
            raise

    async def handle(self, message: Any) -> Any:
        kind, value = message
        if kind == "event":
            if value < 0:
                raise ValueError("negative")
            self.seen.append(value)
        elif kind == "seen":
            return list(self.seen)
        return None


async def test_run_override_consumes_a_stream_and_handles_messages() -> None:
    send, receive = anyio.create_memory_object_stream[int](10)
    async with anyio.create_task_group() as tg, send, receive:
        consumer = await tg.start(StreamConsumer(receive).serve)
        for i in range(3):
            await send.send(i)
        await settle()
        assert len(consumer.seen) == 3
        assert await consumer.ask(("seen", None)) == [0, 1, 2]
        await consumer.stop()
        assert consumer.follower_cancelled.is_set()


async def test_background_task_crash_crashes_the_actor() -> None:
    send, receive = anyio.create_memory_object_stream[int](10)
    consumer = StreamConsumer(receive)
    async with send, receive:
        send.send_nowait(-1)
        with pytest.raises(ValueError, match="negative"):
            await consumer.serve()
    assert consumer.state is ActorState.FAILED


async def test_run_returning_ends_the_actor_and_its_background_tasks() -> None:
    class OneShot(Actor):
        cancelled = False

        async def run(self) -> None:
            self.spawn(self.forever)

        async def forever(self) -> None:
            try:
                await anyio.sleep_forever()
            finally:
                OneShot.cancelled = True

    actor = OneShot()
    with anyio.fail_after(5):
        await actor.serve()
    assert OneShot.cancelled
    assert actor.state is ActorState.STOPPED


async def test_no_task_left_behind_after_stop() -> None:
    before = len(anyio.get_running_tasks())
    send, receive = anyio.create_memory_object_stream[int](10)
    async with anyio.create_task_group() as tg, send, receive:
        consumer = await tg.start(StreamConsumer(receive).serve)
        assert len(anyio.get_running_tasks()) > before
        await consumer.stop()
        await settle()
        assert len(anyio.get_running_tasks()) == before
    assert len(anyio.get_running_tasks()) == before


async def test_parent_cancellation_stops_the_actor() -> None:
    journal = Journal()
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(journal, name="w").serve)
        tg.cancel_scope.cancel()
    assert worker.state is ActorState.STOPPED
    assert journal == [("start", "w"), ("stop", "w")]


def test_on_stop_is_bounded_by_stop_timeout() -> None:
    class Stubborn(Actor):
        async def on_stop(self) -> None:
            await anyio.sleep_forever()

    async def main() -> float:
        actor = Stubborn(stop_timeout=2.0)
        async with anyio.create_task_group() as tg:
            await tg.start(actor.serve)
            begin = anyio.current_time()
            await actor.stop()
        return anyio.current_time() - begin

    assert run_with_mock_clock(main) == pytest.approx(2.0)
