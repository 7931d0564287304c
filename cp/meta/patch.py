"""The three patch formats kubectl sends: JSON patch, JSON merge patch, strategic merge.

Each function takes the current object and the decoded patch and returns a new object;
a malformed patch raises PatchError, which the endpoint answers with 400 (or 422 for a
failed `test`), as kube-apiserver does.  Strategic merge needs each list's merge key,
which only the resource knows: the registry passes a `MergeKeys` table of dotted field
paths ("spec.containers" -> "name"); lists not in it are replaced, as for types
without a patch strategy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = [
    "MergeKeys",
    "PatchError",
    "PatchTestFailed",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
]

MergeKeys = Mapping[str, str]
# A merge-key value meaning "a list of scalars merged as a set" (e.g. finalizers).
PRIMITIVE = ""


class PatchError(ValueError):
    """The patch cannot be applied to this object; str() is the message to send."""


class PatchTestFailed(PatchError):
    """A JSON-patch `test` operation did not hold."""


# -- JSON merge patch (RFC 7386) ------------------------------------------------------


def apply_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


# -- JSON patch (RFC 6902) --------------------------------------------------------------


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise PatchError(f"invalid JSON patch path: {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f'json pointer "{path}" must start with "/"')
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token[0] == "0"):
        raise PatchError(f"invalid array index: {token}")
    i = int(token)
    if i > len(container) or (not for_add and i == len(container)):
        raise PatchError(f"array index out of bounds: {token}")
    return i


def _parent(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise PatchError(f'doc is missing path: "{path}": missing value')
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, for_add=False)]
        else:
            raise PatchError(f'doc is missing path: "{path}": missing value')
    return node


def _get(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        return doc
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f'doc is missing path: "{path}": missing value')
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, for_add=False)]
    raise PatchError(f'doc is missing path: "{path}": missing value')


def _remove(doc: Any, path: str) -> Any:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"unable to remove nonexistent key: {last}: missing value")
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, for_add=False))
    raise PatchError(f'doc is missing path: "{path}": missing value')


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    parts = _pointer(path)
    if not parts:
        return value
    parent = _parent(doc, parts, path)
    last = parts[-1]
    if isinstance(parent, dict):
        if replace and last not in parent:
            raise PatchError(
                f"replace operation does not apply: doc is missing key: {path}: missing value"
            )
        parent[last] = value
    elif isinstance(parent, list):
        if replace:
            parent[_index(parent, last, for_add=False)] = value
        else:
            parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f'doc is missing path: "{path}": missing value')
    return doc


def apply_json_patch(target: Any, operations: Any, *, max_operations: int = 10_000) -> Any:
    if not isinstance(operations, list):
        raise PatchError("json patch must be a list of operations")
    if len(operations) > max_operations:
        raise PatchError(
            f"The allowed maximum operations in a JSON patch is {max_operations}, got {len(operations)}"
        )
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict):
            raise PatchError("json patch operation must be an object")
        kind = op.get("op")
        path = op.get("path")
        if kind in ("add", "replace", "test") and "value" not in op:
            raise PatchError(f"missing value for {kind} operation")
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op["value"]))
        elif kind == "remove":
            _remove(doc, path)
        elif kind == "replace":
            doc = _add(doc, path, copy.deepcopy(op["value"]), replace=True)
        elif kind == "move":
            value = _remove(doc, op.get("from"))
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op.get("from"))))
        elif kind == "test":
            if _get(doc, path) != op["value"]:
                raise PatchTestFailed(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


# -- strategic merge patch ----------------------------------------------------------------


def apply_strategic_merge_patch(target: Any, patch: Any, merge_keys: MergeKeys) -> Any:
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object")
    return _merge_map(target if isinstance(target, dict) else {}, patch, "", merge_keys)


def _merge_map(original: dict[str, Any], patch: dict[str, Any], path: str, keys: MergeKeys) -> Any:
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    if directive is not None:
        raise PatchError(f"Unknown patch type: {directive} in map: {patch}")
    result = dict(original)
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key == "$retainKeys":
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(value, list) and isinstance(result.get(field), list):
                result[field] = [v for v in result[field] if v not in value]
            continue
        sub = f"{path}.{key}" if path else key
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict):
            current = result.get(key)
            merged = _merge_map(current if isinstance(current, dict) else {}, value, sub, keys)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list) and sub in keys:
            current = result.get(key)
            result[key] = _merge_list(
                current if isinstance(current, list) else [], value, sub, keys
            )
        else:
            result[key] = copy.deepcopy(value)
    return result


def _merge_list(original: list[Any], patch: list[Any], path: str, keys: MergeKeys) -> list[Any]:
    merge_key = keys[path]
    if merge_key == PRIMITIVE:
        out = list(original)
        for item in patch:
            if item not in out:
                out.append(item)
        return out
    if any(isinstance(item, dict) and item.get("$patch") == "replace" for item in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    out = [copy.deepcopy(i) for i in original]
    for item in patch:
        if not isinstance(item, dict):
            raise PatchError(f"merging an object in json but data type is not map: {item!r}")
        if merge_key not in item:
            raise PatchError(f"map: {item} does not contain declared merge key: {merge_key}")
        wanted = item[merge_key]
        position = next(
            (i for i, o in enumerate(out) if isinstance(o, dict) and o.get(merge_key) == wanted),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                out.pop(position)
            continue
        if position is None:
            out.append(_merge_map({}, item, path, keys))
        else:
            out[position] = _merge_map(out[position], item, path, keys)
    return out
