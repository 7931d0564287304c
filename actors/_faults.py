"""Fault injection by actor name: a product feature for chaos testing.

Faults are addressed by name, not by instance, and live in the injector rather than in
the actor, so they survive restarts: "crash the next 3 messages of X" means three
crashes in total, however many instances of X that takes. Each message is judged when
the actor takes it from its mailbox: first the delay (the actor is slow), then a crash
(which wins over a drop), then a drop (the message is lost, so an asker times out as it
would on a real lost message).
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ._exceptions import InjectedFault
from ._stats import FaultStatistics

if TYPE_CHECKING:
    from ._registry import Registry


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """The faults currently armed for one name; a snapshot, safe to expose over HTTP."""

    crash_next: int = 0
    delay: float = 0.0
    drop_next: int = 0
    drop_fraction: float = 0.0

    @property
    def empty(self) -> bool:
        return self == _NO_FAULTS


_NO_FAULTS = FaultPlan()


class Verdict(NamedTuple):
    """What to do to one message: sleep ``delay`` first, then crash or drop it."""

    delay: float
    crash: bool
    drop: bool


_PROCEED = Verdict(delay=0.0, crash=False, drop=False)


class FaultInjector:
    """Arms faults on actors by name; reached as ``registry.faults``.

    ``rng`` makes fractional drops reproducible: a chaos run is only useful if a failure
    it finds can be replayed.
    """

    def __init__(self, registry: Registry, *, rng: random.Random | None = None) -> None:
        self._registry = registry
        self._rng = rng if rng is not None else random.Random()
        self._plans: dict[str, FaultPlan] = {}
        self._crashes = 0
        self._delays = 0
        self._drops = 0

    def crash(self, name: str, *, reason: str = "injected crash") -> None:
        """Crash the running actor now, even if idle; its supervisor decides what follows.

        Raises ``ActorNotFound`` when nothing of that name is running: a chaos request
        that hits nothing should say so.
        """
        actor = self._registry.lookup(name)
        self._crashes += 1
        actor._inject_crash(InjectedFault(f"{reason} ({name})"))

    def crash_next(self, name: str, count: int = 1) -> None:
        """Crash the actor when it takes each of its next ``count`` messages."""
        _check_count(count)
        self._update(name, crash_next=count)

    def delay(self, name: str, seconds: float) -> None:
        """Hold every message ``seconds`` before handling it, until cleared."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"delay must be a finite number of seconds >= 0, got {seconds}")
        self._update(name, delay=float(seconds))

    def drop(self, name: str, *, count: int | None = None, fraction: float | None = None) -> None:
        """Lose the next ``count`` messages, or each message with probability ``fraction``."""
        if (count is None) == (fraction is None):
            raise ValueError("drop() takes exactly one of count= or fraction=")
        if count is not None:
            _check_count(count)
            self._update(name, drop_next=count)
        else:
            assert fraction is not None
            if not 0.0 <= fraction <= 1.0:
                raise ValueError(f"drop fraction must be within [0, 1], got {fraction}")
            self._update(name, drop_fraction=float(fraction))

    def clear(self, name: str | None = None) -> None:
        """Disarm the faults of one name, or of every name."""
        if name is None:
            self._plans.clear()
        else:
            self._plans.pop(name, None)

    def plan(self, name: str) -> FaultPlan:
        return self._plans.get(name, _NO_FAULTS)

    def active(self) -> dict[str, FaultPlan]:
        return dict(sorted(self._plans.items()))

    def statistics(self) -> FaultStatistics:
        return FaultStatistics(
            targets=len(self._plans),
            crashes=self._crashes,
            delays=self._delays,
            drops=self._drops,
        )

    def judge(self, name: str) -> Verdict:
        """Decide the fate of the message ``name`` is about to handle (called by actors)."""
        plan = self._plans.get(name)
        if plan is None:
            return _PROCEED
        if plan.delay:
            self._delays += 1
        crash = drop = False
        if plan.crash_next:
            crash = True
            self._crashes += 1
            plan = dataclasses.replace(plan, crash_next=plan.crash_next - 1)
        elif plan.drop_next:
            drop = True
            plan = dataclasses.replace(plan, drop_next=plan.drop_next - 1)
        elif plan.drop_fraction and self._rng.random() < plan.drop_fraction:
            drop = True
        if drop:
            self._drops += 1
        self._store(name, plan)
        return Verdict(delay=plan.delay, crash=crash, drop=drop)

    def _update(self, name: str, **changes: float | int) -> None:
        self._store(name, dataclasses.replace(self.plan(name), **changes))  # type: ignore[arg-type]

    def _store(self, name: str, plan: FaultPlan) -> None:
        if plan.empty:
            self._plans.pop(name, None)
        else:
            self._plans[name] = plan


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
