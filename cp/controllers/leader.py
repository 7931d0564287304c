"""Leader election on a coordination.k8s.io/v1 Lease, as kube-controller-manager does it.

Why: several server processes share one Redis, and controllers must run exactly once.
The process holding the Lease runs them; the others wait, ready to take over.

The algorithm is client-go's ``leaderelection``:

* A candidate reads the Lease. It never trusts the timestamps written in it (clocks
  differ between hosts): it records when *it* observed the lease record change, and
  considers the lease expired once it saw no change for ``lease_duration`` seconds.
* It acquires an expired or free lease by create (none yet) or by an update with the
  resourceVersion it read as precondition (compare-and-swap), so two candidates never
  both succeed.
* The leader renews every ``retry_period``. If it cannot renew within
  ``renew_deadline`` of its last successful renewal, or sees another holder, it stops
  leading: the leader-only work is cancelled before anyone else may consider the lease
  expired, because ``renew_deadline < lease_duration``.
* Stopping (cancellation, or the leader work returning) releases the lease (empty
  holder), so a successor need not wait out the duration.

Unlike client-go, the expiry check uses this elector's configured ``lease_duration``
rather than the record's ``leaseDurationSeconds``: the API field is whole seconds, and
sub-second leases (tests) would otherwise round to zero. Every candidate of one lease is
expected to share the configuration, as kube-controller-manager's flags are.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from cp.storage.errors import AlreadyExists, Conflict, NotFound, StorageError
from cp.storage.interface import Store
from cp.storage.records import Record

LEASES = "coordination.k8s.io/leases"
JITTER = 1.2  # client-go's JitterFactor: candidates retry at slightly different times


class _Attempt(enum.Enum):
    HELD = "held"  # we hold the lease now
    TAKEN = "taken"  # someone else holds it and it has not expired
    FAILED = "failed"  # a conflict or a storage error: try again


@dataclass(frozen=True, slots=True)
class LeaderStatistics:
    """``holder`` is the holder this elector last observed (None: free or unknown)."""

    name: str
    identity: str
    leading: bool
    holder: str | None
    acquisitions: int
    renewals: int
    failed_attempts: int
    losses: int
    last_error: str | None


def rfc3339_micro(moment: datetime | None = None) -> str:
    """metav1.MicroTime as the API writes it."""
    moment = moment if moment is not None else datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Campaigns for the Lease ``kube-system/<name>`` and runs leader-only work.

    ``await elector.run(lead)`` runs until cancelled (or until ``lead`` returns): it
    waits to acquire the lease, runs ``lead()`` while renewing, cancels it when the
    lease is lost, and campaigns again.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        identity: str,
        *,
        namespace: str = "kube-system",
        lease_duration: float = 15.0,
        renew_deadline: float = 10.0,
        retry_period: float = 2.0,
        release_timeout: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if not identity:
            raise ValueError("identity must not be empty")
        if not 0 < retry_period < renew_deadline < lease_duration:
            raise ValueError(
                "need 0 < retry_period < renew_deadline < lease_duration, got "
                f"{retry_period}, {renew_deadline}, {lease_duration}"
            )
        self.store = store
        self.name = name
        self.namespace = namespace
        self.identity = identity
        self.key = f"{namespace}/{name}"
        self.lease_duration = lease_duration
        self.renew_deadline = renew_deadline
        self.retry_period = retry_period
        self.release_timeout = release_timeout
        self._rng = rng if rng is not None else random.Random()
        # What we last saw of the lease, and when (local monotonic time) it changed.
        self._observed: Record | None = None
        self._observed_spec: dict[str, Any] = {}
        self._observed_at = -math.inf
        # When our last successful acquire or renew began: others may count the lease
        # from any later moment, never an earlier one, so our deadlines count from it.
        self._valid_from = -math.inf
        self._leading = False
        self._changed = anyio.Event()
        self._acquisitions = 0
        self._renewals = 0
        self._failed = 0
        self._losses = 0
        self._last_error: str | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        return self._leading

    @property
    def holder(self) -> str | None:
        """The holder last observed in the lease (possibly stale)."""
        return self._observed_spec.get("holderIdentity") or None

    async def wait_leading(self, leading: bool = True) -> None:
        """Wait until this elector leads (or, with ``leading=False``, does not)."""
        while self._leading is not leading:
            await self._changed.wait()

    def _set_leading(self, leading: bool) -> None:
        if self._leading is not leading:
            self._leading = leading
            self._changed.set()
            self._changed = anyio.Event()

    # -- running -------------------------------------------------------------------------

    async def run(self, lead: Callable[[], Awaitable[None]]) -> None:
        """Campaign, lead, and campaign again after a loss, until cancelled.

        Returns when ``lead()`` returns (its work is done; the lease is released).
        An exception from ``lead()`` releases the lease and propagates.
        """
        while True:
            await self._acquire()
            if await self._lead(lead):
                return

    async def _acquire(self) -> None:
        while True:
            if await self._try_acquire_or_renew() is _Attempt.HELD:
                self._acquisitions += 1
                return
            await anyio.sleep(self.retry_period * (1 + self._rng.random() * (JITTER - 1)))

    async def _lead(self, lead: Callable[[], Awaitable[None]]) -> bool:
        """Run ``lead`` while renewing; True if it finished, False if the lease was lost."""
        finished = False
        lost = False
        self._set_leading(True)
        try:
            async with anyio.create_task_group() as tg:

                async def leader_work() -> None:
                    nonlocal finished
                    await lead()
                    finished = True
                    tg.cancel_scope.cancel()

                tg.start_soon(leader_work, name=f"leader:{self.key}")
                await self._renew_until_lost()
                lost = True
                self._losses += 1
                tg.cancel_scope.cancel()
        finally:
            self._set_leading(False)
            if not lost:
                await self._release()
        return finished

    async def _renew_until_lost(self) -> None:
        """Renew every retry_period; return once renewal failed for renew_deadline since
        the last success, or another holder took the lease."""
        renewed_at = self._valid_from
        while True:
            await anyio.sleep(self.retry_period)
            deadline = renewed_at + self.renew_deadline
            while True:
                remaining = deadline - anyio.current_time()
                if remaining <= 0:
                    return
                outcome = _Attempt.FAILED
                with anyio.move_on_after(remaining):
                    outcome = await self._try_acquire_or_renew()
                if outcome is _Attempt.HELD:
                    self._renewals += 1
                    renewed_at = self._valid_from
                    break
                if outcome is _Attempt.TAKEN:
                    return
                await anyio.sleep(min(self.retry_period, max(0.0, deadline - anyio.current_time())))

    async def _try_acquire_or_renew(self) -> _Attempt:
        now = anyio.current_time()
        try:
            try:
                record = await self.store.get(LEASES, self.key)
            except NotFound:
                try:
                    created = await self.store.create(LEASES, self.key, self._lease(None))
                except AlreadyExists:
                    return self._failed_attempt("lease created concurrently")
                self._observe(created, now)
                self._valid_from = now
                return _Attempt.HELD
            self._observe(record, now)
            holder = self._observed_spec.get("holderIdentity")
            if holder and holder != self.identity and now < self._observed_at + self.lease_duration:
                return _Attempt.TAKEN
            obj = record.decode()
            obj["spec"] = self._spec(self._observed_spec)
            try:
                updated = await self.store.update(LEASES, self.key, obj, rv=record.rv)
            except Conflict:
                return self._failed_attempt("lease changed concurrently")
            self._observe(updated, now)
            self._valid_from = now
            return _Attempt.HELD
        except StorageError as error:
            # A failed attempt, retried within the deadlines (client-go does the same);
            # kept in statistics so an unreachable store is visible.
            return self._failed_attempt(repr(error))

    def _failed_attempt(self, reason: str) -> _Attempt:
        self._failed += 1
        self._last_error = reason
        return _Attempt.FAILED

    def _observe(self, record: Record, now: float) -> None:
        if self._observed is None or record.rv != self._observed.rv:
            self._observed = record
            self._observed_spec = dict(record.decode().get("spec") or {})
            self._observed_at = now

    def _spec(self, old: dict[str, Any]) -> dict[str, Any]:
        now = rfc3339_micro()
        spec: dict[str, Any] = {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, math.ceil(self.lease_duration)),
            "renewTime": now,
        }
        transitions = int(old.get("leaseTransitions") or 0)
        if old.get("holderIdentity") == self.identity and old.get("acquireTime"):
            spec["acquireTime"] = old["acquireTime"]
            spec["leaseTransitions"] = transitions
        else:
            spec["acquireTime"] = now
            # client-go counts every change of hands, from a free lease too; a lease
            # created here starts at 0.
            spec["leaseTransitions"] = transitions + 1 if old else 0
        return spec

    def _lease(self, old: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": self._spec(old or {}),
        }

    async def _release(self) -> None:
        """Hand the lease back (empty holder) if we still hold it; shielded and bounded,
        since it runs while being cancelled."""
        observed = self._observed
        if observed is None or self._observed_spec.get("holderIdentity") != self.identity:
            return
        with anyio.move_on_after(self.release_timeout, shield=True):
            obj = observed.decode()
            spec = dict(self._observed_spec)
            spec.pop("holderIdentity", None)
            spec["leaseDurationSeconds"] = 1
            spec["renewTime"] = spec["acquireTime"] = rfc3339_micro()
            obj["spec"] = spec
            try:
                released = await self.store.update(LEASES, self.key, obj, rv=observed.rv)
            except StorageError as error:
                # Not released: the successor waits out the lease duration instead.
                self._last_error = f"release: {error!r}"
                return
            self._observe(released, anyio.current_time())

    def statistics(self) -> LeaderStatistics:
        return LeaderStatistics(
            name=self.key,
            identity=self.identity,
            leading=self._leading,
            holder=self.holder,
            acquisitions=self._acquisitions,
            renewals=self._renewals,
            failed_attempts=self._failed,
            losses=self._losses,
            last_error=self._last_error,
        )


async def run_when_leader(
    store: Store,
    name: str,
    identity: str,
    lead: Callable[[], Awaitable[None]],
    **options: Any,
) -> None:
    """``LeaderElector(store, name, identity, **options).run(lead)``."""
    await LeaderElector(store, name, identity, **options).run(lead)
