"""One handler per verb.  Each is thin: decode, call the registry, encode.

Storage errors are translated once here (cp.endpoints.errors.translate), with the verb
and name at hand; everything else arrives as an ApiError already.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml

from cp.admission import AdmissionChain, Attributes, Operation
from cp.endpoints.errors import translate
from cp.endpoints.field_validation import check_fields
from cp.endpoints.http import Request, Send, decode_json, encode_json, send_bytes, send_json
from cp.endpoints.inflight import TIMEOUT_MESSAGE
from cp.endpoints.limits import Limits
from cp.endpoints.params import dry_run, parse_list_options, parse_rv
from cp.endpoints.request_info import RequestInfo
from cp.endpoints.table import table, wants_table
from cp.meta import status
from cp.meta.managed_fields import manager_name
from cp.meta.patch import (
    PatchConflict,
    PatchError,
    PatchTooLarge,
    apply_json_patch,
    apply_merge_patch,
    apply_strategic_merge_patch,
)
from cp.meta.protobuf import ProtobufError, decode_object
from cp.meta.status import ApiError
from cp.registry.rest import Preconditions, ResourceStorage
from cp.storage import StorageError

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PROTOBUF = "application/vnd.kubernetes.protobuf"
_BODY_TYPES = ("application/json", "application/yaml", PROTOBUF)


@dataclass(slots=True)
class Call:
    """Everything a verb handler gets: the request, its parsed info and the type's storage."""

    request: Request
    send: Send
    info: RequestInfo
    storage: ResourceStorage
    limits: Limits
    admission: AdmissionChain

    @property
    def table(self) -> bool:
        return wants_table(self.request.headers.get("accept", ""))

    @property
    def include_object(self) -> str:
        value = self.request.param("includeObject") or "Metadata"
        if value not in ("None", "Metadata", "Object"):
            raise status.bad_request(f'invalid value for includeObject: "{value}"')
        return value

    @property
    def manager(self) -> str:
        return manager_name(
            self.request.param("fieldManager"), self.request.headers.get("user-agent", "")
        )

    def admit(
        self,
        operation: Operation,
        name: str,
        obj: dict[str, Any] | None = None,
        *,
        dry: bool = False,
    ) -> Awaitable[None]:
        """The admission chain run for this request (awaited by the caller, without a
        coroutine frame of its own); a refusal raises its ApiError."""
        return self.admission(
            Attributes(
                operation,
                self.storage.rdef,
                self.info.namespace,
                name,
                object=obj,
                subresource=self.info.subresource or "",
                dry_run=dry,
            )
        )

    def translate(self, exc: StorageError) -> ApiError:
        return translate(exc, self.storage.rdef, self.info.name, self.info.verb)

    async def decode_body(self) -> Any:
        data = await self.request.body(self.limits.max_body_bytes)
        if self.request.expired:
            # The body came after the 504 (a slow client): not acted on, as kube's
            # handler stops at its cancelled context before it writes.
            raise status.timeout(TIMEOUT_MESSAGE)
        content_type = self.request.content_type or "application/json"
        if content_type == "application/json":
            return decode_json(data)
        if content_type == "application/yaml":
            return _decode_yaml(data)
        if content_type == PROTOBUF:
            try:
                return decode_object(data)
            except ProtobufError as exc:
                raise status.unsupported_media_type(str(exc)) from exc
        raise status.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: {', '.join(_BODY_TYPES)}"
        )


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: a few bytes of nested aliases ("billion laughs") would
    otherwise expand into gigabytes once the object is encoded."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.YAMLError("YAML aliases are not supported in request bodies")
        return super().compose_node(parent, index)


def _decode_yaml(data: bytes) -> Any:
    try:
        return yaml.load(data, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except (yaml.YAMLError, RecursionError) as exc:
        raise status.bad_request(f"the object provided is unrecognized: {exc}") from exc


def _object_body(obj: Any) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise status.bad_request("the object provided is unrecognized: expected a JSON object")
    return obj


async def handle_get(call: Call) -> None:
    info = call.info
    rv = parse_rv(call.request.param("resourceVersion"))
    try:
        cached = await call.storage.get(info.namespace, info.name, rv=rv)
    except StorageError as exc:
        raise call.translate(exc) from exc
    if call.table:
        meta = {"resourceVersion": str(cached.rv)}
        doc = table(call.storage.rdef.kind, [cached.obj], meta, include_object=call.include_object)
        await send_json(call.send, 200, doc)
        return
    await send_bytes(call.send, 200, cached.data)


async def handle_list(call: Call) -> None:
    rdef = call.storage.rdef
    options = parse_list_options(call.request, rdef, watch=False)
    filter_ = call.storage.filter(call.info.namespace, options.labels, options.fields)
    try:
        result = await call.storage.list(
            filter_,
            rv=options.rv,
            match=options.match,
            limit=options.limit,
            continue_token=options.continue_token,
        )
    except StorageError as exc:
        raise call.translate(exc) from exc
    meta: dict[str, Any] = {"resourceVersion": str(result.rv)}
    if result.continue_token:
        meta["continue"] = result.continue_token
    if result.remaining is not None:
        meta["remainingItemCount"] = result.remaining
    if call.table:
        doc = table(
            rdef.kind, (i.obj for i in result.items), meta, include_object=call.include_object
        )
        await send_json(call.send, 200, doc)
        return
    head = encode_json({"kind": rdef.list_kind, "apiVersion": rdef.api_version, "metadata": meta})
    body = b"".join((head[:-1], b',"items":[', b",".join(i.data for i in result.items), b"]}"))
    await send_bytes(call.send, 200, body)


async def handle_create(call: Call) -> None:
    if call.info.name and not call.info.subresource:
        raise status.method_not_allowed(
            call.storage.rdef.resource, call.storage.rdef.group, "create"
        )
    obj = _object_body(await call.decode_body())
    warnings = check_fields(call.request, call.storage.rdef, obj, call.request.cached_body)
    meta = obj.get("metadata")
    name = str(meta.get("name") or "") if isinstance(meta, dict) else ""
    dry = dry_run(call.request)
    await call.admit(Operation.CREATE, name, obj, dry=dry)
    try:
        data = await call.storage.create_json(
            call.info.namespace, obj, dry_run=dry, manager=call.manager
        )
    except StorageError as exc:
        name = (obj.get("metadata") or {}).get("name", "")
        raise translate(exc, call.storage.rdef, name, "create") from exc
    await send_bytes(call.send, 201, encode_json(obj) if data is None else data, headers=warnings)


async def handle_update(call: Call) -> None:
    obj = _object_body(await call.decode_body())
    warnings = check_fields(call.request, call.storage.rdef, obj, call.request.cached_body)
    meta = obj.get("metadata")
    body_rv = parse_rv(meta.get("resourceVersion")) if isinstance(meta, dict) else None
    dry = dry_run(call.request)
    await call.admit(Operation.UPDATE, call.info.name, obj, dry=dry)
    try:
        updated, created = await call.storage.update(
            call.info.namespace,
            call.info.name,
            obj,
            subresource=call.info.subresource,
            dry_run=dry,
            body_rv=body_rv,
            manager=call.manager,
        )
    except StorageError as exc:
        raise call.translate(exc) from exc
    await send_json(call.send, 201 if created else 200, updated, headers=warnings)


def _patcher(
    call: Call, content_type: str, patch: Any
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    if content_type == JSON_PATCH:
        limit = call.limits.max_json_patch_operations
        return lambda current: apply_json_patch(current, patch, max_operations=limit)
    if not isinstance(patch, dict):
        raise status.bad_request("the patch provided is not a JSON object")
    if content_type == MERGE_PATCH:
        return lambda current: apply_merge_patch(current, patch)
    keys = call.storage.strategy.merge_keys
    return lambda current: apply_strategic_merge_patch(current, patch, keys)


async def handle_patch(call: Call) -> None:
    content_type = call.request.content_type
    if content_type == APPLY_PATCH:
        raise status.unsupported_media_type(
            "server-side apply (application/apply-patch+yaml) is not supported by this server yet; "
            "use client-side apply (kubectl apply without --server-side) or another patch type"
        )
    if content_type not in (JSON_PATCH, MERGE_PATCH, STRATEGIC_PATCH):
        raise status.unsupported_media_type(
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{JSON_PATCH}, {MERGE_PATCH}, {STRATEGIC_PATCH}"
        )
    raw = await call.request.body(call.limits.max_body_bytes)
    patch = decode_json(raw)
    mutate = _patcher(call, content_type, patch)
    warnings = (
        []
        if content_type == JSON_PATCH
        else check_fields(call.request, call.storage.rdef, patch, raw)
    )
    dry = dry_run(call.request)
    await call.admit(Operation.UPDATE, call.info.name, dry=dry)
    try:
        patched = await call.storage.patch(
            call.info.namespace,
            call.info.name,
            mutate,
            subresource=call.info.subresource,
            dry_run=dry,
            manager=call.manager,
        )
    except PatchTooLarge as exc:
        raise status.request_entity_too_large(str(exc)) from exc
    except PatchConflict as exc:
        # kube-apiserver answers a JSON patch that does not apply with a generic 422
        # (NewGenericServerResponse), keeping the library's reason out of the reply.
        raise status.patch_does_not_apply() from exc
    except PatchError as exc:
        raise status.bad_request(str(exc)) from exc
    except StorageError as exc:
        raise call.translate(exc) from exc
    await send_json(call.send, 200, patched, headers=warnings)


_PROPAGATION = ("Orphan", "Background", "Foreground")


async def _delete_options(call: Call) -> tuple[Preconditions, int | None, bool]:
    data = await call.request.body(call.limits.max_body_bytes)
    options: dict[str, Any] = {}
    if data.strip():
        decoded = decode_json(data)
        if not isinstance(decoded, dict):
            raise status.bad_request("DeleteOptions must be a JSON object")
        options = decoded
    pre = options.get("preconditions") or {}
    if not isinstance(pre, dict):
        raise status.bad_request("preconditions must be an object")
    policy = options.get("propagationPolicy") or call.request.param("propagationPolicy")
    if policy is not None and policy not in _PROPAGATION:
        raise status.invalid(
            "DeleteOptions",
            "meta.k8s.io",
            "",
            [
                status.Cause(
                    "FieldValueNotSupported",
                    f'Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"',
                    "propagationPolicy",
                )
            ],
        )
    grace = options.get("gracePeriodSeconds", call.request.param("gracePeriodSeconds"))
    if grace is not None and not str(grace).lstrip("-").isdigit():
        raise status.bad_request(f'invalid value for gracePeriodSeconds: "{grace}"')
    dry = dry_run(call.request) or options.get("dryRun") == ["All"]
    rv = pre.get("resourceVersion")
    preconditions = Preconditions(uid=pre.get("uid"), resource_version=parse_rv(rv) if rv else None)
    return preconditions, None if grace is None else int(grace), dry


async def handle_delete(call: Call) -> None:
    rdef = call.storage.rdef
    preconditions, grace, dry = await _delete_options(call)
    await call.admit(Operation.DELETE, call.info.name, dry=dry)
    try:
        result = await call.storage.delete(
            call.info.namespace, call.info.name, preconditions, grace_period=grace, dry_run=dry
        )
    except StorageError as exc:
        raise call.translate(exc) from exc
    if not result.deleted or rdef.return_deleted_object:
        await send_json(call.send, 200, result.object)
        return
    details: dict[str, Any] = {"name": call.info.name}
    if rdef.group:
        details["group"] = rdef.group
    details["kind"] = rdef.resource
    details["uid"] = (result.object.get("metadata") or {}).get("uid", "")
    await send_json(call.send, 200, status.success(details))


async def handle_deletecollection(call: Call) -> None:
    rdef = call.storage.rdef
    options = parse_list_options(call.request, rdef, watch=False)
    _, grace, dry = await _delete_options(call)
    await call.admit(Operation.DELETE, "", dry=dry)
    filter_ = call.storage.filter(call.info.namespace, options.labels, options.fields)
    try:
        deleted = await call.storage.delete_collection(filter_, grace_period=grace, dry_run=dry)
    except StorageError as exc:
        raise call.translate(exc) from exc
    await send_json(
        call.send,
        200,
        {"kind": rdef.list_kind, "apiVersion": rdef.api_version, "metadata": {}, "items": deleted},
    )
