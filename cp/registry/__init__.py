"""Resource definitions and the generic registry store (endpoints -> registry -> storage).

from cp.registry import Registry, BUILTIN
registry = Registry(BUILTIN)
rdef = registry.lookup("", "v1", "configmaps")
"""

from __future__ import annotations

from cp.registry.builtin import BUILTIN
from cp.registry.registry import Registry
from cp.registry.resource import ResourceDef
from cp.registry.rest import ResourceStorage
from cp.registry.strategy import Strategy

__all__ = ["BUILTIN", "Registry", "ResourceDef", "ResourceStorage", "Strategy"]
