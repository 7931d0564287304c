"""Leader election on a Lease: one leader, takeover after release or expiry, never two
leaders at once. Real time with sub-second leases; every wait has a deadline."""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest

from cp.controllers import LEASES, LeaderElector
from cp.storage import MemoryStore, Store, Unavailable

from .helpers import wait_until

pytestmark = pytest.mark.anyio

FAST = {"lease_duration": 0.3, "renew_deadline": 0.2, "retry_period": 0.04}
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class Candidate:
    """One elector running in its own cancel scope, recording when it led."""

    def __init__(self, store: Store, identity: str, log: list[tuple[str, str, float]]) -> None:
        self.elector = LeaderElector(store, "cp-controllers", identity, **FAST)  # type: ignore[arg-type]
        self.identity = identity
        self.log = log
        self.scope = anyio.CancelScope()
        self.leading = 0

    async def lead(self) -> None:
        self.log.append(("start", self.identity, anyio.current_time()))
        self.leading += 1
        try:
            await anyio.sleep_forever()
        finally:
            self.leading -= 1
            self.log.append(("stop", self.identity, anyio.current_time()))

    async def run(self) -> None:
        with self.scope:
            await self.elector.run(self.lead)


def never_two_leaders(log: list[tuple[str, str, float]]) -> None:
    leading: set[str] = set()
    for event, identity, _ in log:
        if event == "start":
            assert not leading, f"{identity} started leading while {leading} led"
            leading.add(identity)
        else:
            leading.discard(identity)


async def lease_spec(store: Store) -> dict[str, Any]:
    return (await store.get(LEASES, "kube-system/cp-controllers")).decode()["spec"]


async def test_one_leads_and_the_other_takes_over_when_it_stops(store: Store) -> None:
    log: list[tuple[str, str, float]] = []
    a, b = Candidate(store, "a", log), Candidate(store, "b", log)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run)
            await a.elector.wait_leading()
            tg.start_soon(b.run)
            # b keeps observing a's renewals and must not lead meanwhile.
            renewals = a.elector.statistics().renewals
            await wait_until(lambda: a.elector.statistics().renewals >= renewals + 8)
            assert b.leading == 0 and not b.elector.is_leader
            assert b.elector.holder == "a"
            stopped = anyio.current_time()
            a.scope.cancel()  # a stops and releases the lease
            await b.elector.wait_leading()
            # A released lease is taken at b's next retry, not after the lease duration.
            assert anyio.current_time() - stopped < FAST["lease_duration"]
            spec = await lease_spec(store)
            assert spec["holderIdentity"] == "b"
            assert spec["leaseTransitions"] == 1  # a (created: 0) -> released -> b
            tg.cancel_scope.cancel()
    never_two_leaders(log)
    assert [(e, i) for e, i, _ in log] == [
        ("start", "a"),
        ("stop", "a"),
        ("start", "b"),
        ("stop", "b"),
    ]


class BreakableStore:
    """A real store behind a switch: when down, every call of this client fails as an
    unreachable Redis would. The one fake here: a partition of one client from a shared
    store, which a real server cannot stage for one client only."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.history = inner.history
        self.down = False

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        async def call(*args: Any, **kwargs: Any) -> Any:
            if self.down:
                raise Unavailable("store unreachable (test partition)")
            return await attr(*args, **kwargs)

        return call


async def test_a_leader_that_cannot_renew_stops_before_another_takes_over(store: Store) -> None:
    shared = store
    broken = BreakableStore(shared)
    log: list[tuple[str, str, float]] = []
    a = Candidate(broken, "a", log)  # type: ignore[arg-type]
    b = Candidate(shared, "b", log)
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(a.run)
            await a.elector.wait_leading()
            tg.start_soon(b.run)
            await wait_until(lambda: b.elector.holder == "a")
            broken.down = True  # a can no longer renew, and does not release
            partitioned = anyio.current_time()
            await b.elector.wait_leading()
            took_over = anyio.current_time() - partitioned
            # b waited for the lease to expire in its own observation.
            assert took_over >= FAST["lease_duration"] - FAST["retry_period"] * 1.2
            assert took_over < FAST["lease_duration"] + 0.5
            assert a.leading == 0 and not a.elector.is_leader
            stats = a.elector.statistics()
            assert stats.losses == 1 and "Unavailable" in (stats.last_error or "")
            # Back online, a sees b's lease and stays a follower.
            broken.down = False
            await wait_until(lambda: a.elector.holder == "b")
            renewals = b.elector.statistics().renewals
            await wait_until(lambda: b.elector.statistics().renewals >= renewals + 8)
            assert not a.elector.is_leader
            assert (await lease_spec(shared))["leaseTransitions"] == 1
            tg.cancel_scope.cancel()
    never_two_leaders(log)
    stop_a = next(t for e, i, t in log if (e, i) == ("stop", "a"))
    start_b = next(t for e, i, t in log if (e, i) == ("start", "b"))
    assert stop_a < start_b


async def test_three_candidates_hand_over_without_ever_overlapping() -> None:
    store = MemoryStore()
    log: list[tuple[str, str, float]] = []
    candidates = [Candidate(store, name, log) for name in ("x", "y", "z")]
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            for c in candidates:
                tg.start_soon(c.run)
            stopped: list[str] = []
            for _ in range(2):
                await wait_until(lambda: sum(c.elector.is_leader for c in candidates) == 1)
                leader = next(c for c in candidates if c.elector.is_leader)
                leader.scope.cancel()
                stopped.append(leader.identity)
                await wait_until(
                    lambda leader=leader: any(
                        c.elector.is_leader for c in candidates if c is not leader
                    )
                )
            tg.cancel_scope.cancel()
    never_two_leaders(log)
    assert len({i for e, i, _ in log if e == "start"}) == 3
    assert len(stopped) == 2


async def test_the_lease_is_a_coordination_v1_lease() -> None:
    store = MemoryStore()
    elector = LeaderElector(store, "cp-controllers", "host-1_abc", **FAST)  # type: ignore[arg-type]
    seen: dict[str, Any] = {}

    async def lead() -> None:
        seen.update((await store.get(LEASES, "kube-system/cp-controllers")).decode())

    with anyio.fail_after(5):
        await elector.run(lead)  # returns once lead() returns
    assert seen["apiVersion"] == "coordination.k8s.io/v1"
    assert seen["kind"] == "Lease"
    assert seen["metadata"]["name"] == "cp-controllers"
    assert seen["metadata"]["namespace"] == "kube-system"
    spec = seen["spec"]
    assert spec["holderIdentity"] == "host-1_abc"
    assert spec["leaseDurationSeconds"] == 1  # whole seconds in the API, rounded up
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
    # Returning from lead() released the lease.
    released = await lease_spec(store)
    assert "holderIdentity" not in released
    assert not elector.is_leader


async def test_an_error_in_the_leader_work_releases_and_propagates() -> None:
    store = MemoryStore()
    elector = LeaderElector(store, "l", "me", **FAST)  # type: ignore[arg-type]

    async def lead() -> None:
        raise RuntimeError("leader work failed")

    with pytest.raises(ExceptionGroup) as info:
        with anyio.fail_after(5):
            await elector.run(lead)
    assert info.group_contains(RuntimeError, match="leader work failed")
    assert "holderIdentity" not in (await store.get(LEASES, "kube-system/l")).decode()["spec"]


def test_timing_parameters_are_validated() -> None:
    store = MemoryStore()
    for bad in [
        {"lease_duration": 10, "renew_deadline": 10, "retry_period": 2},
        {"lease_duration": 15, "renew_deadline": 2, "retry_period": 2},
        {"lease_duration": 15, "renew_deadline": 10, "retry_period": 0},
    ]:
        with pytest.raises(ValueError):
            LeaderElector(store, "l", "me", **bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        LeaderElector(store, "l", "", **FAST)  # type: ignore[arg-type]
