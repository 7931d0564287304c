"""Name -> running actor, so anything can address an actor that restarts under it.

A restart builds a new instance, so a reference held across a restart goes stale;
addressing by the hierarchical name (``"cp.controllers.namespace"``) does not. The
registry also owns the fault injector, because faults are addressed by the same names.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio

from ._exceptions import ActorNotFound, NameTaken
from ._faults import FaultInjector

if TYPE_CHECKING:
    from ._actor import Actor
    from ._stats import ActorStatistics


class Registry:
    """The running actors of one actor tree, by full name.

    An actor registers itself once it is ready and unregisters as it stops, so a name
    resolves only to an instance that can take messages.
    """

    def __init__(self, *, rng: random.Random | None = None) -> None:
        self._actors: dict[str, Actor] = {}
        self._changed: anyio.Event | None = None
        self.faults = FaultInjector(self, rng=rng)

    def register(self, actor: Actor) -> None:
        current = self._actors.get(actor.name)
        if current is not None and current is not actor:
            raise NameTaken(f"an actor named {actor.name!r} is already running")
        self._actors[actor.name] = actor
        self._notify()

    def unregister(self, actor: Actor) -> None:
        if self._actors.get(actor.name) is actor:
            del self._actors[actor.name]
            self._notify()

    def lookup(self, name: str) -> Actor:
        try:
            return self._actors[name]
        except KeyError:
            raise ActorNotFound(f"no running actor named {name!r}") from None

    def get(self, name: str) -> Actor | None:
        return self._actors.get(name)

    def names(self) -> list[str]:
        return sorted(self._actors)

    def __contains__(self, name: object) -> bool:
        return name in self._actors

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._actors)

    async def wait_for(self, name: str, *, replacing: Actor | None = None) -> Actor:
        """Wait until ``name`` runs (as an instance other than ``replacing``).

        This is how a caller waits out a restart without polling; bound it with
        ``anyio.fail_after``.
        """
        while True:
            actor = self._actors.get(name)
            if actor is not None and actor is not replacing:
                return actor
            if self._changed is None:
                self._changed = anyio.Event()
            await self._changed.wait()

    def statistics(self) -> dict[str, ActorStatistics]:
        """A snapshot per running actor, by name, for /metrics."""
        return {name: self._actors[name].statistics() for name in self.names()}

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
