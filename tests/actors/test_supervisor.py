from __future__ import annotations

from collections.abc import Sequence

import anyio
import pytest

from actors import (
    Actor,
    ActorNotFound,
    ActorState,
    ChildSpec,
    NameTaken,
    Registry,
    RequestError,
    Restart,
    Strategy,
    Supervisor,
    SupervisorGaveUp,
)

from .helpers import CrashingRun, Journal, Worker, run_with_mock_clock, settle

pytestmark = pytest.mark.anyio

P, T, TEMP = Restart.PERMANENT, Restart.TRANSIENT, Restart.TEMPORARY


def workers(journal: Journal, names: str, restarts: Sequence[Restart] = ()) -> list[ChildSpec]:
    kinds = list(restarts) or [P] * len(names)
    return [
        ChildSpec(name, lambda: Worker(journal), kind)
        for name, kind in zip(names, kinds, strict=True)
    ]


def tree(journal: Journal, names: str = "abc", **kwargs: object) -> Supervisor:
    restarts = kwargs.pop("restarts", ())
    return Supervisor(
        workers(journal, names, restarts),  # type: ignore[arg-type]
        name="root",
        backoff_base=0.0,
        **kwargs,  # type: ignore[arg-type]
    )


def child(sup: Supervisor, name: str) -> Worker:
    actor = sup.child(name)
    assert isinstance(actor, Worker)
    return actor


async def crash_and_wait(sup: Supervisor, name: str, *, wait_for: str | None = None) -> Worker:
    """Crash child ``name``; return the new instance of ``wait_for`` (default: ``name``)."""
    assert sup.registry is not None
    target = wait_for or name
    old = child(sup, target)
    await child(sup, name).tell("crash")
    with anyio.fail_after(5):
        new = await sup.registry.wait_for(f"root.{target}", replacing=old)
    assert isinstance(new, Worker)
    return new


# -- ordering ---------------------------------------------------------------------------


class SlowToStop(Worker):
    """Later children take longer to stop: concurrent stops would finish a, b, c."""

    async def on_start(self) -> None:
        assert self.registry is not None
        self.running_at_start = self.registry.names()
        await super().on_start()

    async def on_stop(self) -> None:
        await anyio.sleep({"a": 0.0, "b": 0.01, "c": 0.02}[self.name[-1]])
        await super().on_stop()


def slow_tree(journal: Journal) -> Supervisor:
    specs = [ChildSpec(n, lambda: SlowToStop(journal)) for n in "abc"]
    return Supervisor(specs, name="root")


async def test_children_start_in_order_each_ready_before_the_next() -> None:
    journal = Journal()
    sup = slow_tree(journal)
    async with anyio.create_task_group() as tg:
        assert await tg.start(sup.serve) is sup
        assert journal.of("start") == ["root.a", "root.b", "root.c"]
        assert isinstance(b := sup.child("b"), SlowToStop)
        assert b.running_at_start == ["root.a"]
        assert isinstance(c := sup.child("c"), SlowToStop)
        assert c.running_at_start == ["root.a", "root.b"]
        assert sup.registry is not None
        assert sup.registry.names() == ["root", "root.a", "root.b", "root.c"]
        await sup.stop()
    assert journal.of("stop") == ["root.c", "root.b", "root.a"]
    assert sup.registry is not None
    assert sup.registry.names() == []


async def test_cancellation_from_above_still_stops_in_reverse_order() -> None:
    journal = Journal()
    async with anyio.create_task_group() as tg:
        await tg.start(slow_tree(journal).serve)
        tg.cancel_scope.cancel()
    assert journal.of("stop") == ["root.c", "root.b", "root.a"]


async def test_nested_supervisors_start_depth_first_and_stop_in_reverse() -> None:
    journal = Journal()
    sub = ChildSpec("sub", lambda: Supervisor(workers(journal, "xy")))
    specs = [*workers(journal, "a"), sub, *workers(journal, "c")]
    root = Supervisor(specs, name="root")
    async with anyio.create_task_group() as tg:
        await tg.start(root.serve)
        assert journal.of("start") == ["root.a", "root.sub.x", "root.sub.y", "root.c"]
        assert root.registry is not None
        assert "root.sub" in root.registry
        assert isinstance(root.registry.lookup("root.sub.y"), Worker)
        tg.cancel_scope.cancel()
    assert journal.of("stop") == ["root.c", "root.sub.y", "root.sub.x", "root.a"]


async def test_no_task_left_behind_after_stop() -> None:
    before = len(anyio.get_running_tasks())
    journal = Journal()
    sub = ChildSpec("sub", lambda: Supervisor(workers(journal, "xy")))
    root = Supervisor([*workers(journal, "a"), sub], name="root")
    async with anyio.create_task_group() as tg:
        await tg.start(root.serve)
        assert len(anyio.get_running_tasks()) > before
        await root.stop()
        await settle()
        assert len(anyio.get_running_tasks()) == before
    assert root.state is ActorState.STOPPED


# -- strategies -------------------------------------------------------------------------


async def test_one_for_one_restarts_only_the_failed_child_with_fresh_state() -> None:
    journal = Journal()
    sup = tree(journal, strategy=Strategy.ONE_FOR_ONE)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        a, b, c = child(sup, "a"), child(sup, "b"), child(sup, "c")
        await b.ask("incr")
        assert await b.ask("count") == 1
        new_b = await crash_and_wait(sup, "b")
        assert new_b is not b
        assert await new_b.ask("count") == 0
        assert (child(sup, "a"), child(sup, "c")) == (a, c)
        assert journal.of("start") == ["root.a", "root.b", "root.c", "root.b"]
        assert journal.of("stop") == ["root.b"]
        await sup.stop()


async def test_one_for_all_restarts_every_child_in_order() -> None:
    journal = Journal()
    sup = tree(journal, strategy=Strategy.ONE_FOR_ALL)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        a = child(sup, "a")
        await crash_and_wait(sup, "b", wait_for="c")
        assert child(sup, "a") is not a
        assert journal.of("stop") == ["root.b", "root.c", "root.a"]
        assert journal.of("start")[3:] == ["root.a", "root.b", "root.c"]
        await sup.stop()


async def test_rest_for_one_restarts_the_failed_child_and_those_after_it() -> None:
    journal = Journal()
    sup = tree(journal, "abcd", strategy=Strategy.REST_FOR_ONE)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        a = child(sup, "a")
        await crash_and_wait(sup, "b", wait_for="d")
        assert child(sup, "a") is a
        assert journal.of("stop") == ["root.b", "root.d", "root.c"]
        assert journal.of("start")[4:] == ["root.b", "root.c", "root.d"]
        await sup.stop()


# -- restart types ----------------------------------------------------------------------


async def flush_exits(sup: Supervisor) -> None:
    """Crash the permanent "marker" child and wait for its restart: exits are handled in
    order, so every exit before it has been handled too."""
    await crash_and_wait(sup, "marker")


async def test_permanent_child_is_restarted_even_after_a_normal_exit() -> None:
    journal = Journal()
    sup = tree(journal, "a")
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        old = child(sup, "a")
        await old.tell("exit")
        assert sup.registry is not None
        with anyio.fail_after(5):
            await sup.registry.wait_for("root.a", replacing=old)
        assert old.state is ActorState.STOPPED
        await sup.stop()


async def test_transient_child_is_restarted_only_after_a_crash() -> None:
    journal = Journal()
    sup = Supervisor(
        [*workers(journal, "ab", [T, T]), ChildSpec("marker", lambda: Worker(journal))],
        name="root",
        backoff_base=0.0,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        await crash_and_wait(sup, "a")
        b = child(sup, "b")
        await b.tell("exit")
        await b.wait_stopped()
        await flush_exits(sup)
        assert sup.child("b") is None
        assert journal.of("start").count("root.a") == 2
        assert journal.of("start").count("root.b") == 1
        stats = {c.name: c for c in sup.statistics().children}
        assert not stats["b"].running
        assert stats["a"].running
        await sup.stop()


async def test_temporary_child_is_never_restarted() -> None:
    journal = Journal()
    sup = Supervisor(
        [*workers(journal, "t", [TEMP]), ChildSpec("marker", lambda: Worker(journal))],
        name="root",
        backoff_base=0.0,
    )
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        temporary = child(sup, "t")
        await temporary.tell("crash")
        await temporary.wait_stopped()
        await flush_exits(sup)
        assert sup.child("t") is None
        assert journal.of("start").count("root.t") == 1
        (t_stats,) = [c for c in sup.statistics().children if c.name == "t"]
        assert t_stats.last_error == "RuntimeError('root.t crashed')"
        assert (t_stats.running, t_stats.restarts) == (False, 0)
        await sup.stop()


async def test_one_for_all_stops_a_temporary_sibling_for_good_but_restarts_transient() -> None:
    journal = Journal()
    sup = tree(journal, "tsp", restarts=[TEMP, T, P], strategy=Strategy.ONE_FOR_ALL)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        await crash_and_wait(sup, "p")
        assert sup.child("t") is None
        assert journal.of("start") == ["root.t", "root.s", "root.p", "root.s", "root.p"]
        assert journal.of("stop") == ["root.p", "root.s", "root.t"]
        await sup.stop()


# -- intensity and failing upward -------------------------------------------------------


async def test_intensity_exceeded_fails_upward_chained_to_the_last_error() -> None:
    journal = Journal()
    starts: list[float] = []
    specs = [
        *workers(journal, "a"),
        ChildSpec("loop", lambda: CrashingRun(starts)),
        *workers(journal, "c"),
    ]
    sup = Supervisor(specs, name="root", max_restarts=2, period=60.0, backoff_base=0.0)
    with pytest.raises(SupervisorGaveUp, match="'root' gave up: 3 restarts") as info:
        with anyio.fail_after(5):
            await sup.serve()
    assert isinstance(info.value.__cause__, RuntimeError)
    assert str(info.value.__cause__) == "root.loop crash loop"
    assert (info.value.supervisor, info.value.child) == ("root", "root.loop")
    assert len(starts) == 3
    assert journal.of("stop") == ["root.c", "root.a"]
    assert sup.state is ActorState.FAILED
    assert sup.statistics().total_restarts == 2


async def test_zero_max_restarts_gives_up_on_the_first_failure() -> None:
    sup = Supervisor([ChildSpec("loop", CrashingRun)], max_restarts=0, backoff_base=0.0)
    with pytest.raises(SupervisorGaveUp), anyio.fail_after(5):
        await sup.serve()


async def test_a_nested_supervisor_that_gives_up_is_restarted_by_its_parent() -> None:
    starts: list[float] = []

    def sub() -> Supervisor:
        return Supervisor(
            [ChildSpec("loop", lambda: CrashingRun(starts))], max_restarts=1, backoff_base=0.0
        )

    root = Supervisor([ChildSpec("sub", sub)], name="root", max_restarts=2, backoff_base=0.0)
    with pytest.raises(SupervisorGaveUp) as info, anyio.fail_after(5):
        await root.serve()
    assert info.value.child == "root.sub"
    inner = info.value.__cause__
    assert isinstance(inner, SupervisorGaveUp)
    assert inner.supervisor == "root.sub"
    assert isinstance(inner.__cause__, RuntimeError)
    assert len(starts) == 3 * 2  # three instances of sub, each restarting loop once


class FailsToStart(Actor):
    def __init__(self, failures: list[int], fail_times: int) -> None:
        super().__init__()
        self.failures = failures
        self.fail_times = fail_times

    async def on_start(self) -> None:
        if len(self.failures) < self.fail_times:
            self.failures.append(1)
            raise OSError("dependency down")

    async def handle(self, message: object) -> object:
        return message


async def test_start_failures_count_as_crashes() -> None:
    failures: list[int] = []
    sup = Supervisor(
        [ChildSpec("flaky", lambda: FailsToStart(failures, 2))], backoff_base=0.0, name="root"
    )
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        assert len(failures) == 2
        (stats,) = sup.statistics().children
        assert (stats.running, stats.restarts) == (True, 2)
        assert stats.last_error == "OSError('dependency down')"
        await sup.stop()

    never: list[int] = []
    hopeless = Supervisor(
        [ChildSpec("down", lambda: FailsToStart(never, 100))], max_restarts=3, backoff_base=0.0
    )
    async with anyio.create_task_group() as tg:
        with pytest.raises(SupervisorGaveUp) as info:
            await tg.start(hopeless.serve)
    assert isinstance(info.value.__cause__, OSError)
    assert len(never) == 4


# -- time: backoff and the intensity window (virtual clock) -----------------------------


def test_backoff_grows_exponentially_up_to_its_maximum() -> None:
    async def main() -> list[float]:
        starts: list[float] = []
        sup = Supervisor(
            [ChildSpec("loop", lambda: CrashingRun(starts))],
            max_restarts=8,
            period=1000.0,
            backoff_base=1.0,
            backoff_max=5.0,
        )
        with pytest.raises(SupervisorGaveUp):
            await sup.serve()
        return [later - earlier for earlier, later in zip(starts, starts[1:], strict=False)]

    assert run_with_mock_clock(main) == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0]


class CrashesAfter(Actor):
    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds

    async def run(self) -> None:
        await anyio.sleep(self.seconds)
        raise RuntimeError("periodic crash")


def test_failures_spread_wider_than_the_period_are_tolerated() -> None:
    async def main() -> tuple[int, ActorState]:
        sup = Supervisor(
            [ChildSpec("c", lambda: CrashesAfter(6.0))],
            max_restarts=2,
            period=10.0,
            backoff_base=0.0,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sup.serve)
            await anyio.sleep(100.0)
            state = sup.state
            await sup.stop()
        return sup.statistics().total_restarts, state

    assert run_with_mock_clock(main) == (16, ActorState.RUNNING)


def test_failures_within_the_period_exceed_the_intensity() -> None:
    async def main() -> float:
        sup = Supervisor(
            [ChildSpec("c", lambda: CrashesAfter(4.0))],
            max_restarts=2,
            period=10.0,
            backoff_base=0.0,
        )
        with pytest.raises(SupervisorGaveUp):
            await sup.serve()
        return anyio.current_time()

    assert run_with_mock_clock(main) == pytest.approx(12.0)


# -- registry, statistics, validation ---------------------------------------------------


async def test_registry_addresses_running_actors_by_name() -> None:
    registry = Registry()
    sup = Supervisor(workers(Journal(), "ab"), name="app", registry=registry)
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        assert sup.registry is registry
        assert registry.names() == ["app", "app.a", "app.b"]
        assert list(registry) == registry.names()
        assert len(registry) == 3
        assert registry.lookup("app.a") is sup.child("a")
        assert registry.get("app.zzz") is None
        with pytest.raises(ActorNotFound, match="'app.zzz'"):
            registry.lookup("app.zzz")
        assert set(registry.statistics()) == {"app", "app.a", "app.b"}
        with pytest.raises(NameTaken):
            await tg.start(Worker(name="app.a", registry=registry).serve)
        await sup.stop()
    assert len(registry) == 0


async def test_supervisor_statistics() -> None:
    journal = Journal()
    sup = tree(journal, strategy=Strategy.REST_FOR_ONE, restarts=[P, T, TEMP])
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        new_b = await crash_and_wait(sup, "b")
        stats = sup.statistics()
        assert stats.name == "root"
        assert stats.state is ActorState.RUNNING
        assert stats.strategy == "rest_for_one"
        assert stats.total_restarts == 1
        assert [(c.name, c.restart, c.running, c.restarts) for c in stats.children] == [
            ("a", "permanent", True, 0),
            ("b", "transient", True, 1),
            ("c", "temporary", False, 0),
        ]
        assert new_b.statistics().restarts == 1
        await sup.stop()


async def test_supervisors_reject_messages() -> None:
    sup = tree(Journal(), "a")
    async with anyio.create_task_group() as tg:
        await tg.start(sup.serve)
        with pytest.raises(RequestError, match="takes no messages"):
            await sup.ask("hello")
        await sup.stop()


async def test_specs_are_validated() -> None:
    with pytest.raises(ValueError, match="dot-free"):
        ChildSpec("a.b", Worker)
    with pytest.raises(ValueError, match="duplicate child names"):
        Supervisor([ChildSpec("a", Worker), ChildSpec("a", Worker)])
    with pytest.raises(ValueError):
        Supervisor([], max_restarts=-1)
    not_an_actor = Supervisor([ChildSpec("x", lambda: object())])  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="not an Actor"):
        await not_an_actor.serve()


class HangsOnStart(Worker):
    async def on_start(self) -> None:
        await super().on_start()
        await anyio.sleep_forever()


async def test_cancelled_while_a_child_starts_stops_those_already_running() -> None:
    journal = Journal()
    specs = [*workers(journal, "a"), ChildSpec("hang", lambda: HangsOnStart(journal))]
    sup = Supervisor(specs, name="root")
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(sup.serve)
            await settle()
            assert journal.of("start") == ["root.a", "root.hang"]
            tg.cancel_scope.cancel()
    assert journal.of("stop") == ["root.a"]  # hang never finished starting: no on_stop
    assert sup.state is ActorState.STOPPED


def test_stop_interrupts_a_backoff() -> None:
    async def main() -> tuple[float, int]:
        starts: list[float] = []
        sup = Supervisor(
            [ChildSpec("loop", lambda: CrashingRun(starts))],
            backoff_base=100.0,
            backoff_max=100.0,
        )
        async with anyio.create_task_group() as tg:
            await tg.start(sup.serve)
            await anyio.sleep(1.0)  # virtual time: the supervisor is backing off
            await sup.stop()
        return anyio.current_time(), len(starts)

    assert run_with_mock_clock(main) == (pytest.approx(1.0), 1)
