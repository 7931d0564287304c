"""The admission interface: what a plugin sees of a request, and the chain that runs them.

Why a chain between the REST handler and the registry: policies that span objects
(a namespace must exist before anything is created in it) belong to no single type's
strategy. kube-apiserver runs them in two phases, and so does this chain: every
plugin's ``admit`` (mutating: it may change ``attributes.object`` in place) in order,
then every plugin's ``validate`` (read-only). A plugin refuses a request by raising
:class:`cp.meta.status.ApiError` with the Status the client must see; the first refusal
ends the chain. Anything else a plugin raises is a failure of the plugin, not a verdict,
and propagates unchanged so the HTTP layer answers 500.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from cp.registry.resource import ResourceDef


class Operation(enum.StrEnum):
    """admission.Operation: the verbs admission sees (patch is an UPDATE)."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


@dataclass(slots=True)
class Attributes:
    """One request as admission sees it (admission.Attributes).

    ``object`` is the new object (create, update), ``old_object`` the stored one
    (update, delete) when the caller has it. ``name`` may be empty on a create with
    ``generateName``.
    """

    operation: Operation
    rdef: ResourceDef
    namespace: str | None
    name: str
    object: dict[str, Any] | None = None
    old_object: dict[str, Any] | None = None
    subresource: str = ""
    dry_run: bool = False

    @property
    def object_name(self) -> str:
        """The name to put in a refusal, as admission.NewForbidden picks it."""
        if self.name:
            return self.name
        meta = (self.object or {}).get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "Unknown")


@runtime_checkable
class AdmissionPlugin(Protocol):
    """A plugin: ``admit`` may mutate the object, ``validate`` may only refuse.

    Both refuse by raising :class:`~cp.meta.status.ApiError`. As in kube-apiserver
    (MutationInterface, ValidationInterface), a plugin implements either phase or
    both; the chain calls only what a plugin has, so a phase with nothing to do costs
    nothing per request.
    """

    name: str


class AdmissionChain:
    """Plugins in order; ``await chain(attributes)`` runs both phases: every mutating
    ``admit``, then every ``validate``."""

    def __init__(self, plugins: Iterable[AdmissionPlugin] = ()) -> None:
        self.plugins: tuple[AdmissionPlugin, ...] = tuple(plugins)
        names = [p.name for p in self.plugins]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate admission plugins: {duplicates}")
        self._phases: tuple[Phase, ...] = (
            *_phase(self.plugins, "admit"),
            *_phase(self.plugins, "validate"),
        )
        # One phase in all (a server's usual NamespaceLifecycle alone) is awaited as it
        # is, without a coroutine of the chain's own around it on every request.
        self._run: Phase = self._phases[0] if len(self._phases) == 1 else self._run_all

    def __call__(self, attributes: Attributes) -> Awaitable[None]:
        return self._run(attributes)

    async def _run_all(self, attributes: Attributes) -> None:
        for phase in self._phases:
            await phase(attributes)


Phase = Callable[[Attributes], Awaitable[None]]


def _phase(plugins: Iterable[AdmissionPlugin], method: str) -> tuple[Phase, ...]:
    return tuple(m for p in plugins if callable(m := getattr(p, method, None)))
