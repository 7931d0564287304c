"""API benchmark: creates/s, GET latency and watch delivery over real HTTP, side by side
with a trivial endpoint served by the same hypercorn and loop.

Why this shape: the question is whether the REST path (routing, admission, validation,
storage, watch cache) costs much on top of the transport. So for each loop (asyncio,
trio) a real ``cpd serve --port 0`` runs as its own process on the memory store, and
the same client measures, in turn:

- ``GET /version`` (precomputed bytes): requests/s, the transport's own limit;
- ``POST`` ConfigMaps into one namespace: creates/s, and the ratio creates/s over the
  trivial requests/s (the target is >= 0.7); beside it the same ratio of the
  server's own CPU time per request (/proc), which the clients' share of the CPUs
  does not move;
- ``GET`` of existing ConfigMaps: requests/s and p50/p99 latency at that concurrency;
- watch delivery with 100 and 1,000 HTTP watchers (``?watch=1&resourceVersion=N``): a
  writer creates objects at a steady rate below saturation, each stamped with its send
  time (``time.time()``, shared by every process on the host); each watcher records
  receive time minus stamp, p50/p99 over all (watcher, event) pairs.

The first three run in ``ROUNDS`` interleaved rounds (version, create, get, version,
...), so that a slow spell of the machine falls on both sides of a ratio: each round's
ratio compares adjacent windows, and the figure reported is the median round's, with
the lowest and highest beside it.  One window of each kind read 0.64 to 0.71 back to
back on one server, too wide to settle a target of 0.7 by a single run.

The load generator must not be the bottleneck nor share the server's loop: it runs in
``CLIENT_PROCESSES`` separate processes with ``CONCURRENCY`` keep-alive connections
each, and speaks HTTP/1.1 directly over asyncio streams (on uvloop when installed), a
few microseconds per request where httpx would cost a hundred. On a 2-core machine the
client processes still share the CPUs with the server, so every figure here is a floor
for the server, and the ratio (measured under identical client load) is the figure to
compare across machines.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import queue
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from bench.report import percentile, table, write_json

CLIENT_PROCESSES = 2
CONCURRENCY = 32  # connections per client process, each with one request in flight
CLIENTS = f"{CLIENT_PROCESSES}x{CONCURRENCY}"
ROUNDS = 5  # interleaved windows of each load kind (two in a quick run)
LOADS = (
    ("version", "GET /version (trivial)"),
    ("create", "POST configmap"),
    ("get", "GET configmap"),
)
WATCH_PROCESSES = 2
NAMESPACE = "bench"
GET_OBJECTS = 100
PAYLOAD = "x" * 256
START_TIMEOUT = 30.0  # a server or client process must be up within this
STOP_TIMEOUT = 15.0

_json = msgspec.json.Encoder()
_decode = msgspec.json.Decoder()


# -- a minimal HTTP/1.1 client ---------------------------------------------------------


class HttpError(Exception):
    """A response that was not what the benchmark expects (status, framing)."""


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time.

    Only what cpd answers needs handling: content-length bodies and chunked streams.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str):
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer, host)

    def close(self) -> None:
        self.writer.close()

    def _send(self, method: str, path: str, body: bytes) -> None:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
            f"Accept: application/json\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)

    async def _head(self) -> tuple[int, dict[bytes, bytes]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def _chunks(self) -> AsyncIterator[bytes]:
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return
            data = await self.reader.readexactly(size + 2)
            yield data[:-2]

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        self._send(method, path, body)
        status, headers = await self._head()
        length = headers.get(b"content-length")
        if length is not None:
            return status, await self.reader.readexactly(int(length))
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            return status, b"".join([c async for c in self._chunks()])
        raise HttpError(f"{method} {path}: response without length")

    async def stream_lines(self, path: str) -> AsyncIterator[bytes]:
        """GET a chunked stream (a watch) and yield it line by line."""
        self._send("GET", path, b"")
        status, _ = await self._head()
        if status != 200:
            raise HttpError(f"GET {path}: {status}")
        buffer = b""
        async for chunk in self._chunks():
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line:
                    yield line


def _split(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rpartition(":")
    return host, int(port)


def _configmap(name: str, **data: str) -> bytes:
    return _json.encode(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"payload": PAYLOAD, **data},
        }
    )


def _cm_path(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/configmaps"


def _run(coro: Any) -> Any:
    """asyncio on uvloop when installed: the client's per-request cost is the one we
    want as small as possible."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# -- client processes ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadSpec:
    """What one load process does: ``kind`` is version, create or get; ``window``
    numbers the load window, so every window creates objects of new names."""

    kind: str
    url: str
    index: int
    connections: int
    duration: float
    window: int = 0


async def _load(spec: LoadSpec, ready: Any, go: Any) -> dict[str, Any]:
    host, port = _split(spec.url)
    conns = [await Connection.open(host, port) for _ in range(spec.connections)]
    ready.put(("ready", spec.index))
    if not await asyncio.to_thread(go.wait, START_TIMEOUT):
        raise TimeoutError("never told to start")
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    end = start + spec.duration

    async def one(c: int, conn: Connection) -> None:
        nonlocal errors
        k = 0
        while time.perf_counter() < end:
            if spec.kind == "version":
                method, path, body = "GET", "/version", b""
            elif spec.kind == "create":
                name = f"w{spec.window}-p{spec.index}-c{c}-{k}"
                method, path, body = "POST", _cm_path(NAMESPACE), _configmap(name)
            else:
                method, body = "GET", b""
                path = f"{_cm_path(NAMESPACE)}/get-{(c * 7 + k) % GET_OBJECTS}"
            t0 = time.perf_counter()
            status, _ = await conn.request(method, path, body)
            latencies.append(time.perf_counter() - t0)
            if status >= 300:
                errors += 1
            k += 1

    try:
        async with asyncio.timeout(spec.duration + 60):
            async with asyncio.TaskGroup() as tg:
                for c, conn in enumerate(conns):
                    tg.create_task(one(c, conn))
    finally:
        for conn in conns:
            conn.close()
    return {
        "start": start,
        "end": time.perf_counter(),
        "latencies": latencies,
        "errors": errors,
    }


@dataclass(frozen=True, slots=True)
class WatchSpec:
    """``watchers`` HTTP watches from ``rv``; ``events`` timed events after a warm-up."""

    url: str
    index: int
    namespace: str
    rv: str
    watchers: int
    events: int
    deadline: float


async def _watch(spec: WatchSpec, ready: Any, go: Any) -> dict[str, Any]:
    """Each watcher first sees the warm-up object (so every watch is connected and
    caught up before timing starts), then records the delay of each timed event."""
    host, port = _split(spec.url)
    latencies: list[float] = []
    warmed = 0
    all_warm = asyncio.Event()
    completed = 0
    path = f"{_cm_path(spec.namespace)}?watch=1&resourceVersion={spec.rv}"

    async def watcher() -> None:
        nonlocal warmed, completed
        conn = await Connection.open(host, port)
        seen = 0
        try:
            async for line in conn.stream_lines(path):
                now = time.time()
                event = _decode.decode(line)
                if event.get("type") != "ADDED":
                    continue
                data = event["object"].get("data") or {}
                if "t" not in data:  # the warm-up object
                    warmed += 1
                    if warmed == spec.watchers:
                        all_warm.set()
                    continue
                latencies.append(now - float(data["t"]))
                seen += 1
                if seen == spec.events:
                    completed += 1
                    return
        finally:
            conn.close()

    async def report_ready() -> None:
        await all_warm.wait()
        ready.put(("ready", spec.index))

    # Watchers the server ended early (a lagging watcher is closed) just stop: what
    # they missed shows as delivered < expected, so the deadline is on the whole.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(spec.deadline):
            async with asyncio.TaskGroup() as tg:
                tg.create_task(report_ready())
                for _ in range(spec.watchers):
                    tg.create_task(watcher())
    return {"latencies": latencies, "completed": completed}


def client_process(spec: LoadSpec | WatchSpec, ready: Any, go: Any, results: Any) -> None:
    """Entry point of a client process: run ``spec``, put its outcome on ``results``."""
    try:
        coro = _load(spec, ready, go) if isinstance(spec, LoadSpec) else _watch(spec, ready, go)
        results.put(("result", spec.index, _run(coro)))
    except BaseException as exc:
        results.put(("error", spec.index, f"{type(exc).__name__}: {exc}"))
        raise


@contextlib.contextmanager
def _clients(specs: list[Any]) -> Iterator[tuple[Any, Any, Any]]:
    """Start one process per spec; on exit every one of them is gone (joined, else
    terminated, else killed, by its own handle)."""
    ctx = multiprocessing.get_context("spawn")
    ready, results, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = [
        ctx.Process(target=client_process, args=(s, ready, go, results), daemon=True) for s in specs
    ]
    try:
        for p in procs:
            p.start()
        yield ready, go, results
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join()


def _gather(q: Any, n: int, timeout: float, what: str) -> list[Any]:
    """``n`` messages from ``q`` within ``timeout`` seconds; a client error is raised."""
    deadline = time.monotonic() + timeout
    out = []
    while len(out) < n:
        try:
            msg = q.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(f"{what}: {len(out)} of {n} clients after {timeout} s") from None
        if msg[0] == "error":
            raise RuntimeError(f"{what}: client {msg[1]} failed: {msg[2]}")
        out.append(msg)
    return out


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_load(
    kind: str, url: str, duration: float, server_pid: int, window: int = 0
) -> dict[str, Any]:
    """One window of load: requests/s and the server's own CPU time per request (the
    clients share the CPUs, and a create costs its client more than a GET does, so
    requests/s alone charges the server for its clients' work too)."""
    specs = [LoadSpec(kind, url, i, CONCURRENCY, duration, window) for i in range(CLIENT_PROCESSES)]
    with _clients(specs) as (ready, go, results):
        _gather(ready, len(specs), START_TIMEOUT, f"{kind} start")
        cpu_before = cpu_seconds(server_pid)
        go.set()
        outcomes = [m[2] for m in _gather(results, len(specs), duration + 90, kind)]
        cpu = cpu_seconds(server_pid) - cpu_before
    latencies = [x for o in outcomes for x in o["latencies"]]
    # perf_counter is CLOCK_MONOTONIC on Linux: one clock for every process.
    elapsed = max(o["end"] for o in outcomes) - min(o["start"] for o in outcomes)
    return {
        "latencies": latencies,
        "errors": sum(o["errors"] for o in outcomes),
        "per_s": len(latencies) / elapsed,
        "server_cpu_us": cpu / max(len(latencies), 1) * 1e6,
    }


def summarize(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """Windows of one kind as one row: the median window's rates, latency percentiles
    over every request of every window."""
    latencies = sorted(x for w in windows for x in w["latencies"])
    return {
        "requests": len(latencies),
        "errors": sum(w["errors"] for w in windows),
        "per_s": statistics.median(w["per_s"] for w in windows),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "server_cpu_us": statistics.median(w["server_cpu_us"] for w in windows),
    }


def ratio_row(loop: str, test: str, per_round: list[float]) -> dict[str, Any]:
    return {
        "loop": loop,
        "test": test,
        "clients": CLIENTS,
        "ratio": statistics.median(per_round),
        "ratio_min": min(per_round),
        "ratio_max": max(per_round),
    }


async def _create_namespace(conn: Connection, name: str) -> str:
    """Create the namespace; return the configmaps' current resourceVersion in it, the
    version a watch of its configmaps starts from (versions are per resource type, so
    the namespace's own version would mean nothing to a configmap watch)."""
    body = _json.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    status, data = await conn.request("POST", "/api/v1/namespaces", body)
    if status != 201:
        raise HttpError(f"create namespace {name}: {status} {data[:200]!r}")
    status, data = await conn.request("GET", _cm_path(name) + "?limit=1")
    if status != 200:
        raise HttpError(f"list configmaps in {name}: {status} {data[:200]!r}")
    return _decode.decode(data)["metadata"]["resourceVersion"]


async def _setup(url: str) -> None:
    conn = await Connection.open(*_split(url))
    try:
        async with asyncio.timeout(60):
            await _create_namespace(conn, NAMESPACE)
            for i in range(GET_OBJECTS):
                status, _ = await conn.request("POST", _cm_path(NAMESPACE), _configmap(f"get-{i}"))
                if status != 201:
                    raise HttpError(f"create get-{i}: {status}")
    finally:
        conn.close()


async def _write(url: str, namespace: str, name: str, **data: str) -> None:
    conn = await Connection.open(*_split(url))
    try:
        async with asyncio.timeout(30):
            status, body = await conn.request("POST", _cm_path(namespace), _configmap(name, **data))
        if status != 201:
            raise HttpError(f"create {name}: {status} {body[:200]!r}")
    finally:
        conn.close()


async def _paced_writer(url: str, namespace: str, events: int, rate: float) -> None:
    """Create ``events`` objects at ``rate``/s, each stamped with its send time."""
    conn = await Connection.open(*_split(url))
    try:
        async with asyncio.timeout(events / rate + 60):
            next_at = time.monotonic()
            for i in range(events):
                body = _configmap(f"e-{i}", t=repr(time.time()))
                status, data = await conn.request("POST", _cm_path(namespace), body)
                if status != 201:
                    raise HttpError(f"create e-{i}: {status} {data[:200]!r}")
                next_at += 1.0 / rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    finally:
        conn.close()


def run_watch(url: str, watchers: int, events: int, rate: float) -> dict[str, Any]:
    namespace = f"watch-{watchers}"

    async def create() -> str:
        conn = await Connection.open(*_split(url))
        try:
            async with asyncio.timeout(30):
                return await _create_namespace(conn, namespace)
        finally:
            conn.close()

    rv = _run(create())
    deadline = events / rate + 120
    per = [
        watchers // WATCH_PROCESSES + (i < watchers % WATCH_PROCESSES)
        for i in range(WATCH_PROCESSES)
    ]
    specs = [WatchSpec(url, i, namespace, rv, n, events, deadline) for i, n in enumerate(per) if n]
    with _clients(specs) as (ready, _go, results):
        _run(_write(url, namespace, "warmup"))
        _gather(ready, len(specs), START_TIMEOUT + watchers / 20, f"{watchers} watchers start")
        _run(_paced_writer(url, namespace, events, rate))
        outcomes = [m[2] for m in _gather(results, len(specs), deadline + 30, "watch")]
    latencies = sorted(x for o in outcomes for x in o["latencies"])
    return {
        "requests": len(latencies),
        "write_rate": rate,
        "delivered_pct": 100.0 * len(latencies) / (watchers * events),
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


# -- the server process ----------------------------------------------------------------


@contextlib.contextmanager
def cpd_server(
    loop: str, *, wrapper: Sequence[str] = (), start_timeout: float = START_TIMEOUT
) -> Iterator[tuple[str, int]]:
    """``cpd serve --port 0`` in its own process (run by `wrapper`, say valgrind, when
    given); yields its URL and pid and always stops it: SIGTERM (graceful), then
    SIGKILL, by the process's own handle."""
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [*wrapper, sys.executable, "-m", "cp.cli", "serve", "--port", "0", "--loop", loop],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        readable, _, _ = select.select([proc.stdout], [], [], start_timeout)
        line = proc.stdout.readline().decode() if readable else ""
        if not line.startswith("serving on "):
            log.seek(0)
            raise RuntimeError(f"cpd did not start: {line!r} {log.read()[-2000:]!r}")
        yield line.removeprefix("serving on ").strip(), proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        log.close()


def bench_loop(loop: str, quick: bool) -> list[dict[str, Any]]:
    duration = 0.5 if quick else 3.0
    rounds = 2 if quick else ROUNDS
    watch_runs = [(5, 10, 50.0), (20, 10, 20.0)] if quick else [(100, 150, 50.0), (1000, 60, 10.0)]
    rows: list[dict[str, Any]] = []
    windows: dict[str, list[dict[str, Any]]] = {kind: [] for kind, _ in LOADS}
    with cpd_server(loop) as (url, pid):
        _run(_setup(url))
        for r in range(rounds):
            for kind, label in LOADS:
                result = run_load(kind, url, duration, pid, window=r)
                windows[kind].append(result)
                print(
                    f"{loop:7} round {r + 1}/{rounds} {label:24} {result['per_s']:8.0f}/s "
                    f"{result['server_cpu_us']:7.1f} us server CPU/request",
                    flush=True,
                )
        for kind, label in LOADS:
            rows.append(
                {
                    "loop": loop,
                    "test": label,
                    "clients": CLIENTS,
                    **summarize(windows[kind]),
                }
            )
        for watchers, events, rate in watch_runs:
            result = run_watch(url, watchers, events, rate)
            label = f"watch, {watchers} watchers"
            rows.append({"loop": loop, "test": label, "clients": f"{WATCH_PROCESSES}p", **result})
            print(
                f"{loop:7} {label:24} at {rate:.0f}/s: p50 {result['p50_ms']:.2f} ms "
                f"p99 {result['p99_ms']:.2f} ms ({result['delivered_pct']:.0f}% delivered)",
                flush=True,
            )
    pairs = list(zip(windows["version"], windows["create"], strict=True))
    rows.append(
        ratio_row(loop, "ratio creates/s / trivial/s", [c["per_s"] / v["per_s"] for v, c in pairs])
    )
    rows.append(
        ratio_row(
            loop,
            "ratio per server CPU-second",
            [v["server_cpu_us"] / c["server_cpu_us"] for v, c in pairs],
        )
    )
    return rows


def main(out: str | None = None, quick: bool = False) -> int:
    rows: list[dict[str, Any]] = []
    for loop in ("asyncio", "trio"):
        rows += bench_loop(loop, quick)
    print()
    print(
        table(
            rows,
            [
                "loop",
                "test",
                "clients",
                "requests",
                "errors",
                "per_s",
                "server_cpu_us",
                "write_rate",
                "p50_ms",
                "p99_ms",
                "delivered_pct",
                "ratio",
                "ratio_min",
                "ratio_max",
            ],
        )
    )
    print(
        f"\nclient: {os.cpu_count()} CPUs shared by server and client processes; load rows: "
        "the median window's rates, percentiles over every window; ratios: the median "
        "round's, with the lowest and highest"
    )
    path = write_json("api", rows, out)
    print(f"wrote {path}")
    return 0
