"""The three patch formats kubectl sends: JSON patch, JSON merge patch, strategic merge.

Each function takes the current object and the decoded patch and returns a new object,
leaving the current one as it was. Strategic merge needs each list's merge key, which
only the resource knows: the registry passes a `MergeKeys` table of dotted field paths
("spec.containers" -> "name"); lists not in it are replaced, as for types without a
patch strategy.

A patch that cannot be applied raises one of these; the classes say which answer
kube-apiserver gives, so the endpoint can give the same::

    PatchError                  the patch is malformed: 400 BadRequest
     +-- PatchTooLarge          more JSON-patch operations than allowed: 413
     +-- PatchConflict          well-formed, but it does not apply to this object: 422
          +-- PatchTestFailed   a JSON-patch `test` did not hold

kube-apiserver answers a JSON patch that does not apply with a bare 422 Invalid ("the
server rejected our request due to an error in our request"), its cause dropped; str()
of a PatchConflict keeps the cause, in the words of kube's JSON-patch library.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import jsonpatch
import msgspec
from jsonpointer import EndOfList, JsonPointer, JsonPointerException

__all__ = [
    "MAX_JSON_PATCH_COPY_BYTES",
    "MergeKeys",
    "PatchConflict",
    "PatchError",
    "PatchTestFailed",
    "PatchTooLarge",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_strategic_merge_patch",
]

MergeKeys = Mapping[str, str]
# A merge-key value meaning "a list of scalars merged as a set" (e.g. finalizers).
PRIMITIVE = ""


class PatchError(ValueError):
    """The patch cannot be applied to this object; str() is the message to send."""


class PatchTooLarge(PatchError):
    """A JSON patch has more operations than the server takes."""


class PatchConflict(PatchError):
    """A well-formed JSON patch that does not apply to this object (a missing path, an
    index past the end, too much copying)."""


class PatchTestFailed(PatchConflict):
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

# kube-apiserver's default JSONPatchMaxCopyBytes: what `copy` operations may add in all.
MAX_JSON_PATCH_COPY_BYTES = 3 * 1024 * 1024

_OPERATIONS: Mapping[str, type[jsonpatch.PatchOperation]] = jsonpatch.JsonPatch.operations
_WITH_VALUE = frozenset({"add", "replace", "test"})
_WITH_FROM = frozenset({"move", "copy"})
_NEGATIVE_TOKEN = re.compile(r"/-[0-9]")
_NEGATIVE_INDEX = re.compile(r"-[0-9]+")
_INDEX = re.compile(r"0|[1-9][0-9]*")
_MISSING: Any = object()
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def apply_json_patch(
    target: Any,
    operations: Any,
    *,
    max_operations: int = 10_000,
    max_copy_bytes: int = MAX_JSON_PATCH_COPY_BYTES,
) -> Any:
    """Apply an RFC 6902 patch with python-json-patch's operations, as kube-apiserver
    would apply it.

    kube-apiserver applies JSON patches with evanphx/json-patch v4, whose departures
    from the RFC kubectl users rely on; so, here too:

    - a negative array index counts from the end ("/args/-1" is the last argument; an
      `add` at -1 appends): kube keeps it for the clients that use it, and has tested
      it since 1.30;
    - `replace` of a missing object member adds it, and `test` of a missing member
      against null holds: v4 reads a missing member as null.

    Like kube, `copy` operations may add at most `max_copy_bytes` of JSON in all: each
    copy of the document into itself doubles it, and a body-sized patch could otherwise
    grow an object without bound. Paths stay RFC 6901 pointers and indices plain
    decimals, although v4 also takes "bogus/path" (which kube counts as a bug) and "01".

    Malformed operations are refused before any is applied, so whether a patch is
    malformed (400) never depends on the object it meets.
    """
    steps = _compile(operations, max_operations)
    doc = _copy(target)
    copied = 0
    for step in steps:
        raw = step.operation
        kind = raw["op"]
        try:
            step = _counted_from_end(doc, step, kind)
            if kind in _WITH_FROM:
                source = JsonPointer(step.operation["from"]).resolve(doc, _MISSING)
                if source is _MISSING or isinstance(source, EndOfList):
                    raise PatchConflict(
                        f"{kind} operation does not apply: doc is missing from path: "
                        f'"{raw["from"]}": missing value'
                    )
                if kind == "copy":
                    copied += len(_encoder.encode(source))
                    if copied > max_copy_bytes:
                        raise PatchConflict(
                            "Unable to complete the copy, the accumulated size increase of "
                            f"copy is {copied}, exceeding the limit {max_copy_bytes}"
                        )
            doc = _apply(doc, step, kind)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise PatchTestFailed(f"testing value {raw['path']} failed: test failed") from exc
        except (jsonpatch.JsonPatchException, JsonPointerException) as exc:
            raise _conflict(kind, raw["path"], exc) from exc
        except RecursionError as exc:
            raise PatchError(f"{kind} operation: the value is nested too deeply") from exc
    if isinstance(target, dict) and not isinstance(doc, dict):
        raise PatchConflict("the patched document is not a JSON object")
    return doc


def _compile(operations: Any, max_operations: int) -> list[jsonpatch.PatchOperation]:
    """Check the whole patch, with kube's messages where kube has one (it decodes the
    patch with Go's encoding/json)."""
    if not isinstance(operations, list):
        raise PatchError(
            f"json: cannot unmarshal {_json_type(operations)} into Go value of type jsonpatch.Patch"
        )
    if len(operations) > max_operations:
        raise PatchTooLarge(
            f"The allowed maximum operations in a JSON patch is {max_operations}, "
            f"got {len(operations)}"
        )
    steps = []
    for raw in operations:
        if not isinstance(raw, dict):
            raise PatchError(
                f"json: cannot unmarshal {_json_type(raw)} into Go value of type "
                "jsonpatch.Operation"
            )
        kind = raw.get("op")
        if not isinstance(kind, str):
            raise PatchError("operation missing op field: missing value")
        operation = _OPERATIONS.get(kind)
        if operation is None:
            raise PatchError(f"Unexpected kind: {kind}")
        _check_pointer(kind, raw, "path")
        if kind in _WITH_FROM:
            _check_pointer(kind, raw, "from")
        if kind in _WITH_VALUE and "value" not in raw:
            raise PatchError(f"{kind} operation, missing value field: missing value")
        steps.append(operation(raw))
    return steps


def _check_pointer(kind: str, raw: dict[str, Any], field: str) -> None:
    pointer = raw.get(field)
    if pointer is None:
        raise PatchError(
            f"{kind} operation failed to decode {field}: "
            f"operation missing {field} field: missing value"
        )
    if not isinstance(pointer, str):
        raise PatchError(
            f"{kind} operation failed to decode {field}: "
            f"json: cannot unmarshal {_json_type(pointer)} into Go value of type string"
        )
    try:
        JsonPointer(pointer)
    except JsonPointerException as exc:
        raise PatchError(
            f'{kind} operation failed to decode {field}: "{pointer}" is not a JSON pointer: {exc}'
        ) from exc


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if value is None:
        return "null"
    return "number"


def _copy(target: Any) -> Any:
    """A private copy to patch in place: a JSON round trip is several times faster than
    copy.deepcopy, and the objects are JSON to begin with."""
    try:
        return _decoder.decode(_encoder.encode(target))
    except (TypeError, msgspec.EncodeError):
        return copy.deepcopy(target)


def _apply(doc: Any, step: jsonpatch.PatchOperation, kind: str) -> Any:
    raw = step.operation
    if kind == "move" and _NEGATIVE_TOKEN.search(raw["path"]):
        # The destination is counted from the end once the value has left its source.
        value = JsonPointer(raw["from"]).resolve(doc)
        doc = _OPERATIONS["remove"]({"op": "remove", "path": raw["from"]}).apply(doc)
        path = _from_end(doc, raw["path"], insert=True)
        return _OPERATIONS["add"]({"op": "add", "path": path, "value": value}).apply(doc)
    try:
        return step.apply(doc)
    except jsonpatch.JsonPatchPathNotFound:
        if kind != "replace" or not _missing_member(doc, step.pointer):
            raise
        return _OPERATIONS["add"](raw).apply(doc)
    except jsonpatch.JsonPatchTestFailed:
        if raw["value"] is not None or not _missing_member(doc, step.pointer):
            raise
        return doc


def _missing_member(doc: Any, pointer: JsonPointer) -> bool:
    if not pointer.parts:
        return False
    try:
        parent, key = pointer.to_last(doc)
    except JsonPointerException:
        return False
    return isinstance(parent, dict) and key not in parent


def _counted_from_end(
    doc: Any, step: jsonpatch.PatchOperation, kind: str
) -> jsonpatch.PatchOperation:
    """The operation with its negative indices counted from the end of their arrays (a
    move's destination is left to _apply)."""
    raw = step.operation
    path, source = raw["path"], raw["from"] if kind in _WITH_FROM else ""
    if not (_NEGATIVE_TOKEN.search(path) or _NEGATIVE_TOKEN.search(source)):
        return step
    rebased = dict(raw)
    if kind in _WITH_FROM:
        rebased["from"] = _from_end(doc, source, insert=False)
    if kind != "move":
        rebased["path"] = _from_end(doc, path, insert=kind in ("add", "copy"))
    return _OPERATIONS[kind](rebased)


def _from_end(doc: Any, path: str, *, insert: bool) -> str:
    """`path` with each negative array index i replaced by len + i, or len + 1 + i for the
    last token of an insertion (so -1 appends); indices out of range stay, for the
    operation to refuse."""
    parts = JsonPointer(path).parts
    node = doc
    for i, part in enumerate(parts):
        if isinstance(node, list) and _NEGATIVE_INDEX.fullmatch(part):
            size = len(node) + (1 if insert and i == len(parts) - 1 else 0)
            index = int(part)
            if index < 0 and index + size >= 0:
                part = parts[i] = str(index + size)
            elif index == 0:
                part = parts[i] = "0"
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and _INDEX.fullmatch(part) and int(part) < len(node):
            node = node[int(part)]
        else:
            node = _MISSING
    return JsonPointer.from_parts(parts).path


def _conflict(kind: str, path: str, exc: Exception) -> PatchConflict:
    """The library's own conflict messages name paths only; a pointer that does not
    resolve is reported in kube's words, as the library's would quote the document."""
    if isinstance(exc, (JsonPointerException, jsonpatch.JsonPatchPathNotFound)):
        return PatchConflict(
            f'{kind} operation does not apply: doc is missing path: "{path}": missing value'
        )
    return PatchConflict(f"{kind} operation does not apply: {exc}")


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
