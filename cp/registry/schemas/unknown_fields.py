"""Unknown fields at any depth, named by path as Kubernetes' typed decoder names them.

kube-apiserver decodes a body into Go structs; its strict decoder (sigs.k8s.io/json)
reports every key no struct field matches, case-sensitively, with the path it was
found at: struct fields and map keys joined by ".", list indexes as "[i]"
(`spec.containers[0].imagePullPolicyx`), and the decoded object never keeps them.
The published OpenAPI schemas say the same thing the structs do, so each kind's
schema is compiled once into a small tree of allowed-field sets, and a request only
walks the parts of its body that a struct can be found in: a map of strings, a list
of strings or an opaque value (FieldsV1, int-or-string, quantities, times,
x-kubernetes-preserve-unknown-fields) is never entered.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from cp.registry.schemas import V3_REF_PREFIX, definitions, name_for_kind

__all__ = ["FieldTree", "field_tree", "prune_unknown_fields"]


class _Map:
    """additionalProperties whose values hold structs."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: Node = None


class _List:
    """items that hold structs."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: Node = None


# A struct is the dict of its fields; None is a value with nothing to check inside.
Node = dict[str, Any] | _Map | _List | None
FieldTree = dict[str, Node]
_MISSING = object()


class _Compiler:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs
        self.structs: dict[str, Node] = {}

    def definition(self, name: str) -> Node:
        if name in self.structs:  # also breaks recursive types: the dict is filled later
            return self.structs[name]
        schema = self.defs.get(name)
        if schema is None or "properties" not in schema:
            node = self.schema(schema) if schema is not None else None
            self.structs[name] = node
            return node
        fields: dict[str, Node] = {}
        self.structs[name] = fields
        for key, prop in schema["properties"].items():
            fields[key] = self.schema(prop)
        return fields

    def schema(self, schema: Any) -> Node:
        if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
            return None
        ref = schema.get("$ref")
        if ref is None:
            all_of = schema.get("allOf")
            if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
                ref = all_of[0].get("$ref")
        if isinstance(ref, str):
            return self.definition(ref.removeprefix(V3_REF_PREFIX))
        if "properties" in schema:
            return {key: self.schema(prop) for key, prop in schema["properties"].items()}
        if "items" in schema:
            items = self.schema(schema["items"])
            if items is None:
                return None
            node = _List()
            node.items = items
            return node
        values = schema.get("additionalProperties")
        if isinstance(values, dict):
            inner = self.schema(values)
            if inner is None:
                return None
            node_map = _Map()
            node_map.values = inner
            return node_map
        return None


@functools.cache
def _compiler() -> _Compiler:
    return _Compiler(definitions())


@functools.cache
def field_tree(group: str, version: str, kind: str) -> FieldTree | None:
    """The compiled schema of a served kind, or None when it has no published schema."""
    name = name_for_kind(group, version, kind)
    if name is None:
        return None
    node = _compiler().definition(name)
    return node if isinstance(node, dict) else None


def _path(parents: list[str | int], key: str) -> str:
    parts: list[str] = []
    for segment in parents:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        else:
            parts.append(f".{segment}" if parts else segment)
    parts.append(f".{key}" if parts else key)
    return "".join(parts)


def prune_unknown_fields(obj: Any, tree: FieldTree, *, directives: bool = False) -> list[str]:
    """Delete the fields `tree` does not know from `obj`, in place, and return their
    paths in document order.  `directives` keeps strategic-merge-patch keys (`$patch`,
    `$setElementOrder/...`, `$retainKeys`...), which only a patch may carry."""
    found: list[str] = []
    if isinstance(obj, dict):
        _struct(obj, tree, [], found, directives)
    return found


def _struct(
    obj: dict[str, Any],
    fields: dict[str, Node],
    parents: list[str | int],
    found: list[str],
    directives: bool,
) -> None:
    unknown: list[str] | None = None
    for key, value in obj.items():
        node = fields.get(key, _MISSING)
        if node is _MISSING:
            if directives and key[:1] == "$":
                continue
            found.append(_path(parents, key))
            if unknown is None:
                unknown = [key]
            else:
                unknown.append(key)
        elif node is not None and value is not None:
            parents.append(key)
            _value(value, node, parents, found, directives)
            parents.pop()
    if unknown:
        for key in unknown:
            del obj[key]


def _value(
    value: Any, node: Node, parents: list[str | int], found: list[str], directives: bool
) -> None:
    # A value of the wrong JSON type is a decode error for the typed decoder, not an
    # unknown field: it is left to validation.
    if type(node) is dict:
        if isinstance(value, dict):
            _struct(value, node, parents, found, directives)
    elif type(node) is _List:
        if isinstance(value, list):
            items = node.items
            for index, item in enumerate(value):
                if item is not None:
                    parents.append(index)
                    _value(item, items, parents, found, directives)
                    parents.pop()
    elif type(node) is _Map and isinstance(value, dict):
        values = node.values
        for key, item in value.items():
            if item is not None and not (directives and key[:1] == "$"):
                parents.append(key)
                _value(item, values, parents, found, directives)
                parents.pop()
