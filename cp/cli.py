"""`cpd`: run the API server, or print a kubeconfig that points kubectl at it.

cpd serve --port 0 --loop trio        # prints "serving on http://127.0.0.1:PORT"
cpd kubeconfig --server http://127.0.0.1:PORT > kubeconfig && kubectl --kubeconfig kubeconfig get ns

cpd serve --token-auth-file tokens.csv --anonymous-auth=false   # 401 without a token
cpd kubeconfig --token T > kubeconfig   # for clients that send tokens over plain HTTP
(kubectl does not: client-go reads a kubeconfig's credentials only for https servers,
so against cpd kubectl is always anonymous)

cpd serve --workers 4 --storage redis://127.0.0.1:6379/0   # 4 processes, one port
(see cp.workers: the parent binds and supervises; each worker is a `cpd serve` run
with the same arguments plus the hidden `--worker-fd FD`)
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial

import anyio

from cp.auth import TokenFileAuthenticator, TokenFileError
from cp.endpoints import Limits
from cp.registry.allocation import parse_port_range
from cp.server import ServerConfig, ServerInfo, run_server
from cp.storage import StorageError
from cp.workers import PoolConfig, WorkerStartError, serve_workers

logger = logging.getLogger("cp.cli")

KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: cp
  cluster:
    server: {server}
contexts:
- name: cp
  context:
    cluster: cp
    user: cp
    namespace: default
current-context: cp
users:
- name: cp
  user:{user}
preferences: {{}}
"""

_GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
_GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def _go_bool(text: str) -> bool:
    """A boolean flag's value as kube-apiserver's flags (strconv.ParseBool) take it."""
    if text in _GO_TRUE:
        return True
    if text in _GO_FALSE:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be between 0 and 65535, got {text}")
    return value


def _storage(text: str) -> str:
    if text == "memory" or text.startswith("redis://"):
        return text
    raise argparse.ArgumentTypeError(f"expected 'memory' or redis://HOST:PORT/DB, got {text!r}")


def _cidr(text: str) -> str:
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a network address range: {exc}") from exc
    if network.num_addresses < 4:
        raise argparse.ArgumentTypeError(f"{text} is too small to hold Service addresses")
    return text


def _port_range(text: str) -> str:
    try:
        parse_port_range(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cpd",
        description="A Kubernetes-style API server: kubectl and Kubernetes clients work against it unmodified.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="run the API server",
        description="Run the API server over plain HTTP.  Requests are authenticated by "
        "bearer token (--token-auth-file) or served as system:anonymous "
        "(--anonymous-auth); there is no authorization yet: whoever is authenticated, "
        "anonymous included, may do anything.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    serve.add_argument("--bind-address", default="127.0.0.1", help="address to listen on")
    serve.add_argument(
        "--port",
        type=_port,
        default=8080,
        help="port to listen on; 0 picks a free port (the bound address is printed)",
    )
    serve.add_argument(
        "--storage",
        type=_storage,
        default="memory",
        help="'memory' (embedded, single process) or redis://HOST:PORT/DB (durable, shareable)",
    )
    serve.add_argument(
        "--loop",
        choices=("asyncio", "trio"),
        default="asyncio",
        help="event loop; asyncio uses uvloop when it is installed",
    )
    serve.add_argument(
        "--watch-history-events",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="events kept per resource type for watches to resume from; older ones get 410 Gone",
    )
    serve.add_argument(
        "--watch-history-seconds",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds of events kept per resource type for watches to resume from",
    )
    serve.add_argument(
        "--shutdown-grace-seconds",
        type=float,
        default=5.0,
        metavar="S",
        help="how long in-flight requests may take to finish on shutdown",
    )
    serve.add_argument(
        "--max-requests-inflight",
        type=_positive_int,
        default=400,
        metavar="N",
        help="read-only requests served at once; more get 429 with Retry-After (watches excluded)",
    )
    serve.add_argument(
        "--max-mutating-requests-inflight",
        type=_positive_int,
        default=200,
        metavar="N",
        help="mutating requests served at once; more get 429 with Retry-After",
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="longest a non-watch request may take (504 after); the `timeout` parameter can shorten it",
    )
    serve.add_argument(
        "--max-request-body-bytes",
        type=_positive_int,
        default=3 * 1024 * 1024,
        metavar="N",
        help="larger request bodies get 413 before they are parsed",
    )
    serve.add_argument(
        "--service-cluster-ip-range",
        type=_cidr,
        default="10.0.0.0/24",
        metavar="CIDR",
        help="ClusterIPs for Services come from here; the first is the kubernetes Service's",
    )
    serve.add_argument(
        "--service-node-port-range",
        type=_port_range,
        default="30000-32767",
        metavar="FROM-TO",
        help="NodePorts for Services of type NodePort and LoadBalancer come from here",
    )
    serve.add_argument(
        "--advertise-address",
        default=None,
        metavar="IP",
        help="the address the kubernetes Service's endpoints point at; without it, the "
        "bind address, or 127.0.0.1 when binding all addresses",
    )
    serve.add_argument(
        "--leader-elect",
        action="store_true",
        help="run the controllers only while holding the kube-system Lease, so several "
        "servers sharing one Redis run each controller once",
    )
    serve.add_argument(
        "--lease-duration",
        type=_positive_float,
        default=15.0,
        metavar="S",
        help="with leader election: how long followers wait after the leader's last "
        "renewal before taking the Lease over",
    )
    serve.add_argument(
        "--renew-deadline",
        type=_positive_float,
        default=10.0,
        metavar="S",
        help="with leader election: the leader stops its controllers if it could not "
        "renew for this long (must be less than --lease-duration)",
    )
    serve.add_argument(
        "--retry-period",
        type=_positive_float,
        default=2.0,
        metavar="S",
        help="with leader election: how often the leader renews and followers try to "
        "acquire (must be less than --renew-deadline)",
    )
    serve.add_argument(
        "--token-auth-file",
        default=None,
        metavar="PATH",
        help='bearer tokens, one CSV record per line: token,user,uid[,"group1,group2"]; '
        "read at start-up (a bad file stops the server, naming the line). A request with "
        "a token that is not listed gets 401",
    )
    serve.add_argument(
        "--anonymous-auth",
        type=_go_bool,
        nargs="?",
        const=True,
        default=True,
        metavar="BOOL",
        help="serve requests without credentials as user system:anonymous in group "
        "system:unauthenticated; --anonymous-auth=false answers them 401 (health "
        "endpoints included). A rejected token is 401 either way",
    )
    serve.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="server processes sharing the port; N > 1 needs --storage redis://... and "
        "implies --leader-elect. 'worker PID ready' is printed as each worker is ready; a "
        "worker that dies is restarted with backoff, and if it led, another takes the "
        "Lease over",
    )
    # Internal: set by `--workers N` for each worker it starts (see cp.workers).
    serve.add_argument("--worker-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("-v", "--verbose", action="store_true", help="log at debug level")

    kubeconfig = commands.add_parser(
        "kubeconfig",
        help="print a kubeconfig for this server",
        description="Print a kubeconfig (plain HTTP) for kubectl --kubeconfig.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    kubeconfig.add_argument("--server", default="http://127.0.0.1:8080", help="the server's URL")
    kubeconfig.add_argument(
        "--token",
        default=None,
        help="a bearer token from the server's --token-auth-file; without it, no "
        "credentials (anonymous). kubectl ignores it: client-go sends a kubeconfig's "
        "credentials to https servers only; the Python client and others send it",
    )
    return parser


async def _serve(config: ServerConfig, *, supervised: bool = False) -> None:
    """Serve until SIGINT/SIGTERM (or, ``supervised``, until stdin reaches EOF)."""
    shutdown = anyio.Event()

    async def wait_for_signal() -> None:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for _ in signals:
                shutdown.set()
                return

    async def wait_for_supervisor_exit() -> None:
        # A worker's stdin is a pipe from its supervisor: EOF means the supervisor is
        # gone (even by kill -9), and a worker must not outlive it.
        fd = sys.stdin.fileno()
        while True:
            await anyio.wait_readable(fd)
            if not os.read(fd, 4096):
                logger.warning("supervisor gone (stdin closed): shutting down")
                shutdown.set()
                return

    async with anyio.create_task_group() as watchers:
        watchers.start_soon(wait_for_signal)
        if supervised:
            watchers.start_soon(wait_for_supervisor_exit)
        async with anyio.create_task_group() as tg:
            info: ServerInfo = await tg.start(run_server, config, shutdown)
            print(f"serving on {info.url}", flush=True)
        # run_server returned: drained after shutdown. Stop watching.
        watchers.cancel_scope.cancel()


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for sub in exc.exceptions for leaf in _leaves(sub)]
    return [exc]


def _run_serve(args: argparse.Namespace, argv: Sequence[str]) -> int:
    many = args.workers > 1 or args.worker_fd is not None
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        # Several processes share one stderr: say which one speaks.
        format="%(asctime)s %(levelname)s "
        + ("[%(process)d] " if many else "")
        + "%(name)s: %(message)s",
    )
    if args.workers > 1 and args.worker_fd is None:
        return _run_workers(args, argv)
    config = ServerConfig(
        bind_address=args.bind_address,
        port=args.port,
        storage=args.storage,
        history_events=args.watch_history_events,
        history_seconds=args.watch_history_seconds,
        graceful_timeout=args.shutdown_grace_seconds,
        service_cluster_ip_range=args.service_cluster_ip_range,
        service_node_port_range=args.service_node_port_range,
        advertise_address=args.advertise_address,
        leader_election=args.leader_elect or args.worker_fd is not None,
        lease_duration=args.lease_duration,
        renew_deadline=args.renew_deadline,
        retry_period=args.retry_period,
        listen_fd=args.worker_fd,
        token_auth_file=args.token_auth_file,
        anonymous_auth=args.anonymous_auth,
        limits=Limits(
            max_body_bytes=args.max_request_body_bytes,
            max_readonly_inflight=args.max_requests_inflight,
            max_mutating_inflight=args.max_mutating_requests_inflight,
            request_timeout=args.request_timeout,
        ),
    )
    options: dict[str, object] = {}
    if args.loop == "asyncio":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            pass
        else:
            options["use_uvloop"] = True
    failures: list[BaseException] = []
    try:
        anyio.run(
            partial(_serve, config, supervised=args.worker_fd is not None),
            backend=args.loop,
            backend_options=options,
        )
    except* (OSError, StorageError, TokenFileError) as group:
        # Cannot bind, storage unreachable, storage lost data, or an unusable token
        # file: say so plainly, exit 1.
        failures.extend(_leaves(group))
    for exc in failures:
        print(f"cpd: error: {exc}", file=sys.stderr)
    return 1 if failures else 0


def _run_workers(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The supervising parent of ``--workers N``: each worker runs this same command
    line (so every flag reaches it unchanged) plus ``--worker-fd``."""
    if args.token_auth_file:
        # Checked here once, so a bad file is one clear error rather than every
        # worker failing to start.
        try:
            TokenFileAuthenticator.from_file(args.token_auth_file)
        except TokenFileError as exc:
            print(f"cpd: error: {exc}", file=sys.stderr)
            return 1
    config = PoolConfig(
        command=(sys.executable, "-m", "cp", *argv),
        workers=args.workers,
        bind_address=args.bind_address,
        port=args.port,
        # A worker drains for up to the grace period, then closes its store.
        stop_timeout=args.shutdown_grace_seconds + 10.0,
    )
    failures: list[BaseException] = []
    code = 1
    try:
        code = anyio.run(serve_workers, config, backend=args.loop)
    except* (OSError, WorkerStartError) as group:
        failures.extend(_leaves(group))
    for exc in failures:
        print(f"cpd: error: {exc}", file=sys.stderr)
    return 1 if failures else code


def _check_serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Checks across flags, reported as usage errors."""
    if args.workers > 1 and not args.storage.startswith("redis://"):
        parser.error(
            f"serve: --workers {args.workers} needs --storage redis://HOST:PORT/DB: "
            "the memory store lives inside one process"
        )
    if not args.retry_period < args.renew_deadline < args.lease_duration:
        parser.error(
            "serve: need --retry-period < --renew-deadline < --lease-duration, got "
            f"{args.retry_period:g} < {args.renew_deadline:g} < {args.lease_duration:g}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "kubeconfig":
        # A JSON string is a YAML double-quoted scalar: any token survives quoting.
        user = " {}" if args.token is None else "\n    token: " + json.dumps(args.token)
        sys.stdout.write(KUBECONFIG.format(server=args.server, user=user))
        return 0
    _check_serve(parser, args)
    return _run_serve(args, argv)


if __name__ == "__main__":
    sys.exit(main())
