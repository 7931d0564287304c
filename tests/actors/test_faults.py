from __future__ import annotations

import random

import anyio
import pytest

from actors import (
    ActorCrashed,
    ActorNotFound,
    AskTimeout,
    ChildSpec,
    FaultPlan,
    InjectedFault,
    Registry,
    Supervisor,
)

from .helpers import Journal, Worker, run_with_mock_clock, settle

pytestmark = pytest.mark.anyio


def supervised(journal: Journal | None = None, **kwargs: object) -> Supervisor:
    journal = journal if journal is not None else Journal()
    return Supervisor(
        [ChildSpec("w", lambda: Worker(journal))],
        name="root",
        backoff_base=0.0,
        max_restarts=10,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_crash_now_crashes_an_idle_actor_and_its_supervisor_restarts_it() -> None:
    registry = Registry()
    sup = supervised(registry=registry)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        old = registry.lookup("root.w")
        registry.faults.crash("root.w")
        with anyio.fail_after(5):
            new = await registry.wait_for("root.w", replacing=old)
        assert new is not old
        (child,) = sup.statistics().children
        assert child.last_error == "InjectedFault('injected crash (root.w)')"
        assert registry.faults.statistics().crashes == 1
        await sup.stop()


async def test_crash_now_needs_a_running_actor() -> None:
    registry = Registry()
    with pytest.raises(ActorNotFound):
        registry.faults.crash("root.nothing")


async def test_crashing_a_supervisor_restarts_its_subtree() -> None:
    registry = Registry()
    journal = Journal()
    sub = ChildSpec("sub", lambda: supervised(journal))
    root = Supervisor([sub], name="root", registry=registry, backoff_base=0.0)
    async with anyio.create_task_group() as tg:
        await tg.start(root.serve)
        old_worker = registry.lookup("root.sub.w")
        registry.faults.crash("root.sub")
        with anyio.fail_after(5):
            await registry.wait_for("root.sub.w", replacing=old_worker)
        assert journal.of("start") == ["root.sub.w", "root.sub.w"]
        await root.stop()


async def test_crash_next_messages_survives_restarts() -> None:
    registry = Registry()
    sup = supervised(registry=registry)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        registry.faults.crash_next("root.w", 2)
        assert registry.faults.plan("root.w") == FaultPlan(crash_next=2)
        for _ in range(2):
            actor = registry.lookup("root.w")
            with pytest.raises(ActorCrashed) as info:
                await actor.ask("incr")
            assert isinstance(info.value.__cause__, InjectedFault)
            with anyio.fail_after(5):
                await registry.wait_for("root.w", replacing=actor)
        assert await registry.lookup("root.w").ask("incr") == 1
        assert registry.faults.active() == {}
        (child,) = sup.statistics().children
        assert child.restarts == 2
        await sup.stop()


async def test_drop_next_messages() -> None:
    registry = Registry()
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(name="w", registry=registry).serve)
        registry.faults.drop("w", count=2)
        for _ in range(4):
            await worker.tell("incr")
        assert await worker.ask("count") == 2
        assert worker.statistics().dropped == 2
        assert registry.faults.statistics().drops == 2
        assert registry.faults.plan("w").empty
        await worker.stop()


async def test_drop_a_fraction_of_messages_reproducibly() -> None:
    seed, n = 1234, 40
    replay = random.Random(seed)
    expected_drops = sum(replay.random() < 0.5 for _ in range(n))
    assert 0 < expected_drops < n
    registry = Registry(rng=random.Random(seed))
    async with anyio.create_task_group() as tg:
        worker = await tg.start(Worker(name="w", registry=registry).serve)
        registry.faults.drop("w", fraction=0.5)
        for _ in range(n):
            await worker.tell("incr")
        # Faults are judged when a message is taken, so let all of them be taken first.
        await settle()
        assert worker.statistics().latency.count == n
        registry.faults.clear("w")
        assert await worker.ask("count") == n - expected_drops
        assert worker.statistics().dropped == expected_drops
        await worker.stop()


async def test_crash_wins_over_drop_and_clear_disarms_everything() -> None:
    registry = Registry()
    faults = registry.faults
    faults.drop("a", count=1)
    faults.crash_next("a")
    faults.delay("b", 0.5)
    assert faults.active() == {
        "a": FaultPlan(crash_next=1, drop_next=1),
        "b": FaultPlan(delay=0.5),
    }
    verdict = faults.judge("a")
    assert (verdict.crash, verdict.drop) == (True, False)
    assert faults.plan("a") == FaultPlan(drop_next=1)
    faults.clear()
    assert faults.active() == {}
    assert faults.statistics().targets == 0
    verdict = faults.judge("b")
    assert (verdict.delay, verdict.crash, verdict.drop) == (0.0, False, False)


def test_fault_arguments_are_validated() -> None:
    faults = Registry().faults
    with pytest.raises(ValueError):
        faults.crash_next("a", 0)
    with pytest.raises(ValueError):
        faults.delay("a", -1)
    with pytest.raises(ValueError):
        faults.delay("a", float("inf"))
    with pytest.raises(ValueError, match="exactly one"):
        faults.drop("a")
    with pytest.raises(ValueError, match="exactly one"):
        faults.drop("a", count=1, fraction=0.5)
    with pytest.raises(ValueError):
        faults.drop("a", fraction=1.5)
    assert faults.active() == {}


def test_delay_holds_every_message() -> None:
    async def main() -> None:
        registry = Registry()
        async with anyio.create_task_group() as tg:
            worker = await tg.start(Worker(name="w", registry=registry).serve)
            registry.faults.delay("w", 3.0)
            begin = anyio.current_time()
            assert await worker.ask("incr") == 1
            assert await worker.ask("incr") == 2
            assert anyio.current_time() - begin == pytest.approx(6.0)
            latency = worker.statistics().latency
            assert (latency.count, latency.max) == (2, pytest.approx(3.0))
            registry.faults.clear("w")
            begin = anyio.current_time()
            assert await worker.ask("incr") == 3
            assert anyio.current_time() == begin
            assert registry.faults.statistics().delays == 2
            await worker.stop()

    run_with_mock_clock(main)


def test_a_dropped_ask_times_out() -> None:
    async def main() -> None:
        registry = Registry()
        async with anyio.create_task_group() as tg:
            worker = await tg.start(Worker(name="w", registry=registry).serve)
            registry.faults.drop("w", fraction=1.0)
            with pytest.raises(AskTimeout):
                await worker.ask("incr", timeout=10.0)
            registry.faults.clear()
            assert await worker.ask("count") == 0
            await worker.stop()

    run_with_mock_clock(main)
