"""Admission: policies that run between a REST handler and the registry.

    chain = AdmissionChain([NamespaceLifecycle.from_registry(registry)])
    await chain(Attributes(Operation.CREATE, rdef, namespace, name, object=body))

* :class:`Attributes`, :class:`Operation` - what a plugin sees of one request.
* :class:`AdmissionPlugin` - the protocol: ``admit`` (mutating) then ``validate``.
* :class:`AdmissionChain` - runs the plugins' two phases in order.
* :class:`NamespaceLifecycle` - no content in missing or Terminating namespaces, and
  default, kube-system and kube-public cannot be deleted.

A refusal is a :class:`cp.meta.status.ApiError` carrying the Status to send.
"""

from cp.admission.interface import AdmissionChain, AdmissionPlugin, Attributes, Operation
from cp.admission.namespace_lifecycle import (
    IMMORTAL_NAMESPACES,
    TERMINATING_CAUSE,
    NamespaceLifecycle,
)

__all__ = [
    "IMMORTAL_NAMESPACES",
    "TERMINATING_CAUSE",
    "AdmissionChain",
    "AdmissionPlugin",
    "Attributes",
    "NamespaceLifecycle",
    "Operation",
]
