"""metadata.managedFields: which manager last set which fields (FieldsV1), for Update.

Kubernetes records, for every write, the fields the writing manager changed, and takes
them away from other managers; clients (kubectl apply, controllers) read this to see who
owns what.  Without full schemas, the FieldsV1 set is computed from the object itself:
maps and structs are told apart by a list of known map fields (for the "." self entry),
and lists are keyed by the type's strategic-merge keys ("k:{...}"), merged as sets
("v:...") or atomic, exactly the information the patch strategy already declares.
Server-side apply's own "Apply" entries are not produced (SSA is not served yet).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from cp.meta.patch import PRIMITIVE

Path = tuple[str, ...]

# Fields that are maps (string-keyed), whose FieldsV1 node carries a "." self entry.
MAP_FIELDS = frozenset(
    {
        "labels", "annotations", "data", "binaryData", "stringData", "selector", "nodeSelector",
        "hard", "used", "capacity", "allocatable", "requests", "limits", "max", "min", "default",
        "defaultRequest", "maxLimitRequestRatio", "matchLabels", "deprecatedTopology", "hints",
    }
)  # fmt: skip
# Server-owned metadata is never anyone's field.
_SERVER_META = frozenset(
    {"name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
     "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink", "generateName"}
)  # fmt: skip


def _go_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def field_paths(
    obj: Mapping[str, Any], merge_keys: Mapping[str, str], *, skip: Iterable[str] = ()
) -> set[Path]:
    """Every owned path of `obj` (leaves and map/list-item nodes), as FieldsV1 elements."""
    out: set[Path] = set()
    skipped = {"apiVersion", "kind", *skip}
    for key, value in obj.items():
        if key in skipped:
            continue
        if key == "metadata" and isinstance(value, Mapping):
            for mkey, mvalue in value.items():
                if mkey not in _SERVER_META:
                    _walk(
                        ("f:metadata", f"f:{mkey}"),
                        f"metadata.{mkey}",
                        mkey,
                        mvalue,
                        merge_keys,
                        out,
                    )
            continue
        _walk((f"f:{key}",), key, key, value, merge_keys, out)
    return out


# Leaf values, told apart by an exact type check before the (slower) ABC checks below.
_SCALARS = (str, int, float, bool, type(None))


def _walk(
    path: Path, dotted: str, name: str, value: Any, keys: Mapping[str, str], out: set[Path]
) -> None:
    if type(value) in _SCALARS:
        out.add(path)
        return
    if isinstance(value, Mapping) and value:
        if name in MAP_FIELDS:
            out.add((*path, "."))
        for k, v in value.items():
            _walk((*path, f"f:{k}"), f"{dotted}.{k}", k, v, keys, out)
        return
    if isinstance(value, list) and value and dotted in keys:
        key = keys[dotted]
        for item in value:
            if key == PRIMITIVE:
                out.add((*path, "v:" + _go_json(item)))
            elif isinstance(item, Mapping) and key in item:
                element = (*path, "k:" + _go_json({key: item[key]}))
                out.add((*element, "."))
                for k, v in item.items():
                    _walk((*element, f"f:{k}"), f"{dotted}.{k}", k, v, keys, out)
        return
    out.add(path)


def fields_v1(
    obj: Mapping[str, Any], merge_keys: Mapping[str, str], *, skip: Iterable[str] = ()
) -> dict[str, Any]:
    """``to_fields_v1(sorted(field_paths(obj, ...)))`` built in one walk: what a create
    records, where no earlier owner's set needs to be compared path by path."""
    root: dict[str, Any] = {}
    skipped = {"apiVersion", "kind", *skip}
    for key in sorted(obj):
        if key in skipped:
            continue
        value = obj[key]
        if key == "metadata" and isinstance(value, Mapping):
            meta: dict[str, Any] = {}
            for mkey in sorted(value):
                if mkey not in _SERVER_META:
                    meta[f"f:{mkey}"] = _subtree(f"metadata.{mkey}", mkey, value[mkey], merge_keys)
            if meta:
                root["f:metadata"] = meta
            continue
        root[f"f:{key}"] = _subtree(key, key, value, merge_keys)
    return root


def _subtree(dotted: str, name: str, value: Any, keys: Mapping[str, str]) -> dict[str, Any]:
    """The FieldsV1 node of one value, children in sorted order (as _walk's paths sort)."""
    if type(value) in _SCALARS:
        return {}
    if isinstance(value, Mapping) and value:
        node: dict[str, Any] = {".": {}} if name in MAP_FIELDS else {}
        for k in sorted(value):
            v = value[k]
            # Most values are leaves: no call (and no dotted path) for them.
            node[f"f:{k}"] = {} if type(v) in _SCALARS else _subtree(f"{dotted}.{k}", k, v, keys)
        return node
    if isinstance(value, list) and value and dotted in keys:
        # Items may share a key (the union of their fields): the path set merges them.
        paths: set[Path] = set()
        _walk((), dotted, name, value, keys, paths)
        return to_fields_v1(sorted(paths))
    return {}


def _value_at(obj: Any, path: Path) -> Any:
    """The value a path names, for change detection (None when absent)."""
    node = obj
    for element in path:
        if element == ".":
            return node
        if element.startswith("f:"):
            node = node.get(element[2:]) if isinstance(node, Mapping) else None
        elif element.startswith("k:") and isinstance(node, list):
            wanted = json.loads(element[2:])
            node = next(
                (
                    i
                    for i in node
                    if isinstance(i, Mapping) and all(i.get(k) == v for k, v in wanted.items())
                ),
                None,
            )
        elif element.startswith("v:") and isinstance(node, list):
            value = json.loads(element[2:])
            node = value if value in node else None
        else:
            return None
        if node is None:
            return None
    return node


def to_fields_v1(paths: Iterable[Path]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in paths:
        node = root
        for element in path:
            node = node.setdefault(element, {})
    return root


def from_fields_v1(fields: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    out: set[Path] = set()
    for key, child in fields.items():
        path = (*prefix, key)
        if isinstance(child, Mapping) and child:
            out |= from_fields_v1(child, path)
        else:
            out.add(path)
    return out


def update_managed_fields(
    new: dict[str, Any],
    old: Mapping[str, Any] | None,
    *,
    manager: str,
    api_version: str,
    now: str,
    merge_keys: Mapping[str, str],
    subresource: str = "",
    skip: Iterable[str] = (),
) -> None:
    """Set new.metadata.managedFields after `manager` wrote `new` over `old` (None: create).

    A client that sends managedFields explicitly (different from the stored ones) sets
    them as sent, as Kubernetes allows; an empty list resets them.
    """
    meta = new.setdefault("metadata", {})
    if old is None:
        # A create: nobody else owns anything yet, so the manager owns every field.
        owned = fields_v1(new, merge_keys, skip=skip)
        if owned:
            meta["managedFields"] = [_entry(manager, api_version, now, owned, subresource)]
        else:
            meta.pop("managedFields", None)
        return
    old_meta = old.get("metadata") or {}
    sent = meta.get("managedFields")
    if sent is not None and sent != old_meta.get("managedFields"):
        if sent == []:
            meta.pop("managedFields", None)
        return
    entries = [e for e in old_meta.get("managedFields") or [] if isinstance(e, Mapping)]
    new_paths = field_paths(new, merge_keys, skip=skip)
    old_paths = field_paths(old, merge_keys, skip=skip)
    # A map's "." entry is about its presence only, not its content.
    changed = {
        p
        for p in new_paths
        if p not in old_paths or (p[-1] != "." and _value_at(new, p) != _value_at(old, p))
    }
    removed = old_paths - new_paths
    result = []
    mine: set[Path] = set()
    for entry in entries:
        owned = from_fields_v1(entry.get("fieldsV1") or {})
        same = (
            entry.get("manager") == manager
            and entry.get("operation") == "Update"
            and (entry.get("subresource") or "") == subresource
        )
        if same:
            mine = owned
            continue
        owned -= changed | removed
        if owned:
            result.append({**entry, "fieldsV1": to_fields_v1(sorted(owned))})
    mine = (mine - removed) | changed
    if mine:
        result.append(_entry(manager, api_version, now, to_fields_v1(sorted(mine)), subresource))
    if result:
        meta["managedFields"] = result
    else:
        meta.pop("managedFields", None)


def _entry(
    manager: str, api_version: str, now: str, owned: dict[str, Any], subresource: str
) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "manager": manager,
        "operation": "Update",
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": owned,
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def manager_name(field_manager: str | None, user_agent: str) -> str:
    """fieldManager, else the User-Agent's product (what Kubernetes falls back to)."""
    if field_manager:
        return field_manager
    product = user_agent.split("/", 1)[0].strip()
    return product[:128] or "unknown"
