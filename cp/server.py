"""Assembling the API server: store -> watch caches -> registry -> controllers ->
ASGI app -> hypercorn.

Everything runs in one task group owned by `run_server`: the caches are started (each
reports started once its snapshot is loaded), then the controllers' supervisor tree
(reported started once every controller has listed), then hypercorn serves on a
socket bound here, so port 0 works and the bound address is known before the first
request.  On shutdown the app's `stopping` event ends open watches, hypercorn drains,
the controllers and caches are cancelled, and the store is closed, in that order.
"""

from __future__ import annotations

import datetime
import gc
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

import anyio
import sniffio
from hypercorn.config import Config as HypercornConfig

from cp.admission import AdmissionChain, NamespaceLifecycle
from cp.auth import AuthenticationConfig, new_authenticator
from cp.controllers import BootstrapConfig, ControllersConfig, MetricsRegistry, run_controllers
from cp.endpoints import ApiServerApp, Limits
from cp.endpoints.health import PING, NamedCheck, version_info
from cp.registry import BUILTIN, Registry, ResourceStorage
from cp.registry.allocation import DEFAULT_CIDR, DEFAULT_NODE_PORTS, ServiceAllocation
from cp.registry.shared_storage import SHARED, ConvertingStore
from cp.storage import History, Store, WatchCache, open_store

# The cyclic collector's thresholds while serving.  With Python's default (700
# allocations), a young collection ran every few requests and walked every in-flight
# request's objects: under `bench api`'s create load, ~2,500 collections and 4% of the
# CPU in 20 s; at 10,000, 16 collections and 0.2%.  Requests free their objects by
# reference counting, so the young generation holds little garbage either way.
GC_THRESHOLDS = (10_000, 10, 10)


@dataclass(frozen=True, slots=True)
class ServerConfig:
    bind_address: str = "127.0.0.1"
    port: int = 8080
    storage: str = "memory"
    history_events: int = 10_000
    history_seconds: float = 300.0
    graceful_timeout: float = 5.0
    service_cluster_ip_range: str = DEFAULT_CIDR
    service_node_port_range: str = DEFAULT_NODE_PORTS
    advertise_address: str | None = None
    leader_election: bool = False
    # Leader election timing (kube-controller-manager's defaults); see LeaderElector.
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    # An already listening socket to serve on instead of binding bind_address:port
    # (`cpd serve --workers N` binds once and hands the socket to every worker).
    listen_fd: int | None = None
    limits: Limits = Limits()
    # --token-auth-file and --anonymous-auth (see cp.auth.config).
    token_auth_file: str | None = None
    anonymous_auth: bool = True


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What a started server reports to whoever started it."""

    url: str
    app: ApiServerApp


def build_registry(
    store: Store,
    history: History,
    *,
    service_cluster_ip_range: str = DEFAULT_CIDR,
    service_node_port_range: str = DEFAULT_NODE_PORTS,
) -> tuple[Registry, list[WatchCache]]:
    """Every built-in type bound to its storage and watch cache; Services also to the
    ClusterIP and NodePort allocators (whose own caches come last in the list)."""
    registry = Registry(BUILTIN)
    allocation, allocation_caches = ServiceAllocation.build(
        store,
        cidr=service_cluster_ip_range,
        node_port_range=service_node_port_range,
        history=history,
    )
    registry.allocation = allocation
    caches = []
    for rdef in registry.defs:
        # Types kept in another type's storage (events.k8s.io Events) get a converting
        # view of it, and a cache of their own fed through that view.
        shared = SHARED.get(rdef.storage_name)
        type_store = store if shared is None else ConvertingStore(store, rdef.storage_name, shared)
        cache = WatchCache(
            type_store,
            rdef.storage_name,
            kind=rdef.kind,
            api_version=rdef.api_version,
            history=history,
            fields_of=partial(rdef.strategy.fields_of, namespaced=rdef.namespaced),
        )
        services = rdef.storage_name == "core/services"
        registry.bind(
            rdef,
            ResourceStorage(
                rdef,
                type_store,
                cache,
                allocation=allocation if services else None,
                validation_group=shared.validation_group if shared else None,
            ),
        )
        caches.append(cache)
    caches.extend(allocation_caches)
    return registry, caches


def _caches_check(caches: list[WatchCache]) -> NamedCheck:
    async def check() -> str | None:
        waiting = [c.resource for c in caches if not c.ready]
        return f"caches not synced: {', '.join(waiting)}" if waiting else None

    return NamedCheck("watch-cache-sync", check)


def _shutdown_check(stopping: anyio.Event) -> NamedCheck:
    """Not ready once shutting down, so load balancers stop sending new requests."""

    async def check() -> str | None:
        return "shutting down" if stopping.is_set() else None

    return NamedCheck("shutdown", check)


def _store_check(store: Store, resource: str) -> NamedCheck:
    async def check() -> str | None:
        try:
            with anyio.fail_after(2):
                await store.current_revision(resource)
        except Exception as exc:  # any failure means "not healthy"; reported, not raised
            return f"{type(exc).__name__}: {exc}"
        return None

    return NamedCheck("storage", check)


def _bind(address: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, port))
    sock.listen(1024)
    return sock


async def _hypercorn_serve(
    app: ApiServerApp, config: HypercornConfig, shutdown: Callable[[], Awaitable[None]]
) -> None:
    """hypercorn has one serve() per loop; pick the running one's."""
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve as trio_serve

        await trio_serve(app, config, shutdown_trigger=shutdown)  # type: ignore[arg-type]
    else:
        from hypercorn.asyncio import serve as asyncio_serve

        await asyncio_serve(app, config, shutdown_trigger=shutdown)  # type: ignore[arg-type]


async def run_server(
    config: ServerConfig,
    shutdown: anyio.Event,
    *,
    task_status: anyio.abc.TaskStatus[ServerInfo] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until `shutdown` is set; report the bound URL once caches are synced.

    A token file that cannot be used raises TokenFileError before anything starts."""
    authenticator = new_authenticator(
        AuthenticationConfig(
            token_auth_file=config.token_auth_file, anonymous=config.anonymous_auth
        )
    )
    history = History(max_events=config.history_events, max_seconds=config.history_seconds)
    async with open_store(config.storage, history=history) as store:
        registry, caches = build_registry(
            store,
            history,
            service_cluster_ip_range=config.service_cluster_ip_range,
            service_node_port_range=config.service_node_port_range,
        )
        controller_metrics = MetricsRegistry()
        build_date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        live = [PING, _store_check(store, caches[0].resource)]
        stopping = anyio.Event()
        app = ApiServerApp(
            registry,
            live_checks=live,
            ready_checks=[*live, _caches_check(caches), _shutdown_check(stopping)],
            version=version_info(build_date),
            limits=config.limits,
            stopping=stopping,
            admission=AdmissionChain([NamespaceLifecycle.from_registry(registry)]),
            extra_metrics=controller_metrics.render,
            authenticator=authenticator,
        )
        if config.listen_fd is not None:
            sock = socket.socket(fileno=config.listen_fd)
        else:
            sock = _bind(config.bind_address, config.port)
        host, port = sock.getsockname()[:2]
        hconfig = HypercornConfig()
        hconfig.bind = [f"fd://{sock.detach()}"]
        hconfig.graceful_timeout = config.graceful_timeout
        hconfig.accesslog = None
        hconfig.errorlog = logging.getLogger("hypercorn.error")
        hconfig.keep_alive_timeout = 75
        shown_host = f"[{host}]" if ":" in host else host

        async def stop_serving() -> None:
            await shutdown.wait()
            app.stopping.set()

        advertise = config.advertise_address or (
            host if host not in ("0.0.0.0", "::") else "127.0.0.1"
        )
        controllers = ControllersConfig(
            bootstrap=BootstrapConfig(
                service_cluster_ip_range=config.service_cluster_ip_range,
                advertise_address=advertise,
                port=port,
            ),
            leader_election=config.leader_election,
            lease_duration=config.lease_duration,
            renew_deadline=config.renew_deadline,
            retry_period=config.retry_period,
            # Kubernetes waits 5 s in HA setups, so every server's caches see the delete.
            namespace_deletion_grace_period=5.0 if config.leader_election else 0.0,
        )

        async with anyio.create_task_group() as tg:
            for cache in caches:
                await tg.start(cache.run)
            await tg.start(
                partial(
                    run_controllers, registry, store, config=controllers, metrics=controller_metrics
                )
            )
            # What start-up built (modules, schemas, the registry, the caches' first
            # snapshots) lives as long as the process: out of the collector's
            # generations, full collections stop walking it on every heap growth.
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            task_status.started(ServerInfo(f"http://{shown_host}:{port}", app))
            await _hypercorn_serve(app, hconfig, stop_serving)
            tg.cancel_scope.cancel()
