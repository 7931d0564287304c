"""The API server's ASGI application: routing to discovery, health and verb handlers.

Written on the raw ASGI interface so nothing sits between hypercorn and the handlers.
Every failure leaves as a metav1.Status: ApiErrors carry theirs, anything unexpected
becomes a 500 InternalError (logged), and cancellation is never caught.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence

import anyio

from cp.admission import AdmissionChain
from cp.auth import (
    AnonymousAuthenticator,
    AuthenticationError,
    AuthenticationMetrics,
    Authenticator,
)
from cp.endpoints import handlers
from cp.endpoints.discovery import AGGREGATED_V2, Discovery, wants_aggregated
from cp.endpoints.handlers import Call
from cp.endpoints.health import NamedCheck, serve_health
from cp.endpoints.http import Message, Receive, Request, Scope, Send, send_bytes, send_error
from cp.endpoints.inflight import MUTATING, READ_ONLY, InFlight
from cp.endpoints.limits import Limits
from cp.endpoints.metrics import Metrics
from cp.endpoints.openapi import OpenAPI
from cp.endpoints.request_info import RequestInfo, parse_request_info
from cp.endpoints.watch import handle_watch
from cp.meta import status
from cp.meta.status import ApiError
from cp.registry import Registry

log = logging.getLogger(__name__)

_VERB_HANDLERS = {
    "get": handlers.handle_get,
    "list": handlers.handle_list,
    "create": handlers.handle_create,
    "update": handlers.handle_update,
    "patch": handlers.handle_patch,
    "delete": handlers.handle_delete,
    "deletecollection": handlers.handle_deletecollection,
}
_HEALTH = ("healthz", "livez", "readyz")
_LIMITED_PREFIXES = ("/api", "/openapi")
_INFO_CACHE_SIZE = 1024


def _acceptable(accept: str) -> bool:
    """JSON (possibly as a Table or discovery list), YAML-free: anything else is 406."""
    if not accept:
        return True
    for entry in accept.split(","):
        media = entry.split(";")[0].strip().lower()
        if media in ("application/json", "*/*", "application/*", "application/json-patch+json"):
            return True
    return False


class _Record:
    """What the filters and metrics learn about one request as it is served, and its
    answer: the handler's, or the 504 of a request that ran past its deadline."""

    __slots__ = ("_send", "code", "deadline", "info", "request", "started")

    def __init__(self, send: Send, request: Request) -> None:
        self._send = send
        self.request = request
        self.code = 0
        self.started = False
        self.info: RequestInfo | None = None
        self.deadline = math.inf

    async def send(self, message: Message) -> None:
        if self.request.expired:
            return  # answered 504 already: the handler's answer is dropped
        if message["type"] == "http.response.start":
            self.code = message["status"]
            self.started = True
        await self._send(message)

    async def expire(self, error: ApiError) -> None:
        if self.started:
            return  # too late to answer otherwise: the response under way goes on
        self.request.expired = True
        self.started = True
        self.code = error.code
        await send_error(self._send, error)


_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def _unauthorized() -> ApiError:
    """apierrors.NewUnauthorized("Unauthorized"): the client learns nothing about why."""
    return ApiError(status.status_object(401, "Unauthorized", "Unauthorized"))


def parse_timeout(text: str | None, default: float) -> float:
    """The `timeout` parameter, a Go duration ("30s", "1m30s"); capped at the default."""
    if not text:
        return default
    parts = _DURATION_RE.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise status.bad_request(f'invalid timeout: "{text}"')
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts)
    return min(seconds, default) if seconds > 0 else default


class ApiServerApp:
    def __init__(
        self,
        registry: Registry,
        *,
        live_checks: Sequence[NamedCheck],
        ready_checks: Sequence[NamedCheck],
        version: bytes,
        limits: Limits | None = None,
        stopping: anyio.Event | None = None,
        admission: AdmissionChain | None = None,
        extra_metrics: Callable[[], str] | None = None,
        authenticator: Authenticator | None = None,
    ) -> None:
        self.registry = registry
        # Without one, every request is system:anonymous (--anonymous-auth alone).
        self.authenticator = authenticator or AnonymousAuthenticator()
        self.auth_metrics = AuthenticationMetrics()
        self.admission = admission or AdmissionChain()
        # Metrics owned by other parts (the controllers), appended to /metrics.
        self.extra_metrics = extra_metrics
        self.discovery = Discovery(registry)
        self.openapi = OpenAPI(registry)
        self.live_checks = list(live_checks)
        self.ready_checks = list(ready_checks)
        self.version = version
        self.limits = limits or Limits()
        # Set when the server begins shutting down, so open watches end cleanly.
        self.stopping = stopping or anyio.Event()
        self.inflight = InFlight(
            self.limits.max_readonly_inflight, self.limits.max_mutating_inflight
        )
        self.metrics = Metrics(self.inflight.requests)
        self._infos: dict[tuple[str, str, str | None], RequestInfo | None] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        record = _Record(send, request)
        started = time.monotonic()
        try:
            self._authenticate(request)
            await self._filtered(request, record)
        except ApiError as exc:
            if not record.started:
                await send_error(record.send, exc)
        except Exception as exc:  # a bug: answer 500 rather than drop the connection
            log.exception("internal error serving %s %s", request.method, request.path)
            if not record.started:
                await send_error(record.send, status.internal_error(f"{type(exc).__name__}: {exc}"))
        finally:
            info = record.info
            if info is not None and info.verb != "watch":
                scope_label = (
                    "resource" if info.name else ("namespace" if info.namespace else "cluster")
                )
                self.metrics.observe(
                    info.verb, info.group, info.version, info.resource, info.subresource,
                    scope_label, record.code, time.monotonic() - started,
                )  # fmt: skip

    def _authenticate(self, request: Request) -> None:
        """WithAuthentication: decide who is asking, or answer 401.

        kube-apiserver runs it inside the request timeout and outside the in-flight
        limits, so a 401 never takes an in-flight slot; here it runs before both,
        which is the same order because it never waits.  Every path is authenticated,
        /healthz, /livez, /readyz, /version and /metrics included: with
        --anonymous-auth=false they answer 401 too, as kube's do.  There is no
        authorization step yet, so every user, anonymous included, may do anything.

        The Authorization header is dropped once it has done its work, so that no
        later step (a proxy, a log) can pass the credential on.
        """
        headers = request.headers
        try:
            user = self.authenticator.authenticate(headers)
        except AuthenticationError as exc:
            self.auth_metrics.errors += 1
            log.warning("unable to authenticate the request: %s", exc)
            raise _unauthorized() from exc
        if user is None:
            self.auth_metrics.failures += 1
            raise _unauthorized()
        self.auth_metrics.success(user)
        if "authorization" in headers:
            del headers["authorization"]
            scope = request.scope
            scope["headers"] = [h for h in scope["headers"] if h[0] != b"authorization"]
        request.user = user

    async def _filtered(self, request: Request, record: _Record) -> None:
        """The handler chain's filters: in-flight limits and the request timeout.

        Watches are long-running: they count in neither limit nor timeout.  Health,
        version and metrics are exempt, so probes and scrapes work under load.
        """
        watching = request.param("watch") in ("1", "true", "True") or "/watch/" in request.path
        if watching or not request.path.startswith(_LIMITED_PREFIXES):
            await self._route(request, record)
            return
        kind = READ_ONLY if request.method in ("GET", "HEAD") else MUTATING
        # WithRequestDeadline (a bad `timeout` is 400) runs outside WithMaxInFlightLimit.
        record.deadline = time.monotonic() + parse_timeout(
            request.param("timeout"), self.limits.request_timeout
        )
        self.inflight.enter(kind, record)
        try:
            await self._route(request, record)
        finally:
            self.inflight.leave(kind, record)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        """The server's lifetime, which the request-timeout sweeper shares."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.inflight.run)
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    self.stopping.set()
                    await send({"type": "lifespan.shutdown.complete"})
                    tg.cancel_scope.cancel()
                    return

    async def _route(self, request: Request, record: _Record) -> None:
        send = record.send
        path = request.path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        head = parts[0]
        if head in _HEALTH and len(parts) <= 2:
            checks = self.ready_checks if head == "readyz" else self.live_checks
            await serve_health(request, send, head, checks, parts[1] if len(parts) == 2 else "")
            return
        if path == "/metrics":
            await send_bytes(
                send,
                200,
                self.metrics.render()
                + self.auth_metrics.render().encode()
                + (self.extra_metrics().encode() if self.extra_metrics else b""),
                content_type="text/plain; version=0.0.4; charset=utf-8",
            )
            return
        if path == "/version":
            await send_bytes(send, 200, self.version)
            return
        if head == "openapi":
            await self._openapi(request, send, parts)
            return
        if head not in ("api", "apis"):
            raise status.path_not_found()
        if not _acceptable(request.headers.get("accept", "")):
            raise status.not_acceptable(["application/json", "application/yaml"])
        if len(parts) <= 3 and await self._discovery(request, send, parts):
            return
        info = self._request_info(request.method, path, request.param("watch"))
        if info is None:
            raise status.path_not_found()
        rdef = self.registry.lookup(info.group, info.version, info.resource)
        if rdef is None or (info.subresource and info.subresource not in rdef.subresources):
            raise status.path_not_found()
        if rdef.namespaced and info.namespace is None and info.verb not in ("list", "watch"):
            raise status.path_not_found()
        if not rdef.namespaced and info.namespace is not None:
            raise status.path_not_found()
        if info.subresource and info.verb not in rdef.subresource_verbs(info.subresource):
            raise status.method_not_allowed(rdef.resource, rdef.group, info.verb)
        if info.verb not in rdef.verbs:
            raise status.method_not_allowed(rdef.resource, rdef.group, info.verb)
        record.info = info
        call = Call(request, send, info, self.registry.storage(rdef), self.limits, self.admission)
        if info.verb == "watch":
            labels = self.metrics.watch_started(info.group, info.version, info.resource)
            try:
                await handle_watch(call, self.stopping)
            finally:
                self.metrics.watch_ended(labels)
            return
        handler = _VERB_HANDLERS.get(info.verb)
        if handler is None:
            raise status.method_not_allowed(rdef.resource, rdef.group, info.verb)
        await handler(call)

    def _request_info(self, method: str, path: str, watch: str | None) -> RequestInfo | None:
        """parse_request_info, remembered: collection paths (creates, lists) repeat, and a
        RequestInfo is immutable.  Bounded by starting over when full."""
        key = (method, path, watch)
        cache = self._infos
        try:
            return cache[key]
        except KeyError:
            pass
        info = parse_request_info(method, path, watch)
        if len(cache) >= _INFO_CACHE_SIZE:
            cache.clear()
        cache[key] = info
        return info

    async def _openapi(self, request: Request, send: Send, parts: list[str]) -> None:
        if parts == ["openapi", "v2"]:
            body, content_type = self.openapi.v2_for(request.headers.get("accept", ""))
            await send_bytes(
                send, 200, body, content_type=content_type, headers=[("vary", "Accept")]
            )
            return
        if parts == ["openapi", "v3"]:
            await send_bytes(send, 200, self.openapi.root)
            return
        if len(parts) > 2 and parts[1] == "v3":
            doc = self.openapi.documents.get("/".join(parts[2:]))
            if doc is not None:
                await send_bytes(send, 200, doc)
                return
        raise status.path_not_found()

    async def _discovery(self, request: Request, send: Send, parts: list[str]) -> bool:
        d = self.discovery
        if request.method != "GET":
            return False
        aggregated = wants_aggregated(request.headers.get("accept", ""))
        if parts == ["api"]:
            if aggregated:
                await send_bytes(send, 200, d.aggregated_api, content_type=AGGREGATED_V2)
            else:
                await send_bytes(send, 200, d.api)
            return True
        if parts == ["apis"]:
            if aggregated:
                await send_bytes(send, 200, d.aggregated_apis, content_type=AGGREGATED_V2)
            else:
                await send_bytes(send, 200, d.apis)
            return True
        if len(parts) == 2 and parts[0] == "api":
            doc = d.resource_lists.get(("", parts[1]))
        elif len(parts) == 2:
            doc = d.group_docs.get(parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = d.resource_lists.get((parts[1], parts[2]))
        else:
            return False
        if doc is None:
            raise status.path_not_found()
        await send_bytes(send, 200, doc)
        return True
