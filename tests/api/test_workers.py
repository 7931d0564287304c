"""`cpd serve --workers 2` on a real redis-server, as a user runs it.

Why these tests: several processes share one Redis, so the ClusterIP and NodePort
allocations must hold across processes (no address handed out twice however the
creates interleave), and the controllers must run in exactly one of them, moving to a
survivor when the leader dies without a word (kill -9: no lease release).

Short leases (2 s) keep failover fast. Every wait polls a condition under a deadline;
every process started here is stopped in a finally, by PID.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
import pytest

from cp.testing.redis_server import RedisServer

LEASE_DURATION = 2.0
LEADER_FLAGS = ["--lease-duration", "2", "--renew-deadline", "1.5", "--retry-period", "0.2"]
LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/cp-controller-manager"
START_DEADLINE = 30.0
POLL = 0.05  # between polls of a condition, always under a deadline

T = TypeVar("T")


class _Lines:
    """A process's stdout, line by line, each read bounded by a deadline."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self._fd = process.stdout.fileno()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._fd, selectors.EVENT_READ)
        self._buffer = b""

    def next(self, deadline: float) -> str:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no line from cpd in time")
            if not self._selector.select(timeout=remaining):
                continue
            chunk = os.read(self._fd, 4096)
            if not chunk:
                raise RuntimeError("cpd closed its stdout (exited?)")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode(errors="replace")


@dataclass
class Pool:
    url: str
    process: subprocess.Popen[bytes]
    lines: _Lines
    workers: list[int]  # the PIDs of the first workers, in the order they were ready
    seen: set[int] = field(default_factory=set)  # every worker PID printed

    def next_worker_ready(self, deadline: float) -> int:
        while True:
            match = re.fullmatch(r"worker (\d+) ready", self.lines.next(deadline))
            if match:
                pid = int(match[1])
                self.seen.add(pid)
                return pid


def _is_our_worker(pid: int) -> bool:
    """Guards the cleanup kill against PID reuse: only a cpd worker of ours is killed."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"--worker-fd" in f.read()
    except OSError:
        return False


@pytest.fixture
def pool(redis_server: RedisServer, tmp_path: Path) -> Iterator[Pool]:
    redis_server.flushall()
    log = open(tmp_path / "cpd.log", "wb")  # noqa: SIM115 - closed in finally
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "cp", "serve", "--port", "0", "--workers", "2"),
            *("--storage", redis_server.url, *LEADER_FLAGS),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    seen: set[int] = set()
    try:
        lines = _Lines(process)
        deadline = time.monotonic() + START_DEADLINE
        workers: list[int] = []
        while not (line := lines.next(deadline)).startswith("serving on "):
            if match := re.fullmatch(r"worker (\d+) ready", line):
                workers.append(int(match[1]))
        seen.update(workers)
        assert line.endswith(" (2 workers)"), line
        assert len(workers) == 2, workers
        running = Pool(line.split()[2], process, lines, workers, seen)
        yield running
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, "cpd --workers did not shut down cleanly"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        # Workers shut down once their parent's pipe closes; a stuck one is killed.
        for pid in seen:
            if _is_our_worker(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()


def _until(what: str, deadline: float, probe: Callable[[], T | None]) -> T:
    """Poll ``probe`` until it returns something other than None, or fail at deadline."""
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(POLL)


def _request(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request, retried for a few seconds on connection errors only: a killed
    worker drops its connections, and the survivor serves the retry."""
    deadline = time.monotonic() + 5
    while True:
        try:
            return client.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError):
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL)


def _create_namespace(client: httpx.Client, name: str) -> None:
    response = _request(client, "POST", "/api/v1/namespaces", json={"metadata": {"name": name}})
    assert response.status_code == 201, response.text


def test_concurrent_service_creates_never_share_a_cluster_ip_or_node_port(pool: Pool) -> None:
    namespace = "svc-" + uuid.uuid4().hex[:8]
    with httpx.Client(base_url=pool.url, timeout=10) as client:
        _create_namespace(client, namespace)

    specs: list[dict[str, Any]] = []

    async def create_all() -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(base_url=pool.url, timeout=30, limits=limits) as client:

            async def create(i: int) -> None:
                body = {
                    "metadata": {"name": f"s{i}"},
                    "spec": {"type": "NodePort", "ports": [{"port": 80, "targetPort": 8080}]},
                }
                response = await client.post(f"/api/v1/namespaces/{namespace}/services", json=body)
                assert response.status_code == 201, response.text
                specs.append(response.json()["spec"])

            async with anyio.create_task_group() as tg:
                for i in range(200):
                    tg.start_soon(create, i)

    anyio.run(create_all)

    ips = [spec["clusterIP"] for spec in specs]
    ports = [spec["ports"][0]["nodePort"] for spec in specs]
    assert len(set(ips)) == 200, "a ClusterIP was allocated twice"
    assert "10.0.0.1" not in ips, "the kubernetes Service's ClusterIP was handed out"
    assert len(set(ports)) == 200, "a NodePort was allocated twice"
    assert all(30000 <= port <= 32767 for port in ports)

    # What the store holds agrees (read back through either worker's cache).
    def stored() -> list[dict[str, Any]] | None:
        with httpx.Client(base_url=pool.url, timeout=10) as client:
            items = _request(client, "GET", "/api/v1/services").json()["items"]
        ours = [s for s in items if s["metadata"]["namespace"] == namespace]
        return items if len(ours) == 200 else None

    items = _until("all 200 Services listed", time.monotonic() + 10, stored)
    all_ips = [s["spec"]["clusterIP"] for s in items]
    assert len(set(all_ips)) == len(all_ips) == 201  # ours and the kubernetes Service


def _holder_pid(client: httpx.Client) -> int | None:
    response = _request(client, "GET", LEASE)
    if response.status_code != 200:
        return None
    holder = response.json()["spec"].get("holderIdentity")
    return int(holder.rsplit("_", 1)[1]) if holder else None


def test_the_survivor_takes_over_when_the_leader_is_killed(pool: Pool) -> None:
    with httpx.Client(base_url=pool.url, timeout=10) as client:
        leader = _until("a leader", time.monotonic() + 10, lambda: _holder_pid(client))
        assert leader in pool.workers
        (survivor,) = set(pool.workers) - {leader}

        # Content for the namespace controller, created while the first leader leads.
        doomed = "doomed-" + uuid.uuid4().hex[:8]
        _create_namespace(client, doomed)
        for i in range(20):
            response = _request(
                client,
                "POST",
                f"/api/v1/namespaces/{doomed}/configmaps",
                json={"metadata": {"name": f"cm{i}"}, "data": {"i": str(i)}},
            )
            assert response.status_code == 201, response.text

        os.kill(leader, signal.SIGKILL)
        killed_at = time.monotonic()

        # No release from a killed leader: the survivor waits out the lease, then takes it.
        _until(
            "the survivor to hold the Lease",
            killed_at + LEASE_DURATION + 3,
            lambda: True if _holder_pid(client) == survivor else None,
        )

        # The controllers run again, in the survivor: the namespace controller empties
        # and removes a namespace (after its 5 s multi-process grace period) ...
        response = _request(client, "DELETE", f"/api/v1/namespaces/{doomed}")
        assert response.status_code in (200, 202), response.text
        _until(
            f"namespace {doomed} to be gone",
            time.monotonic() + 30,
            lambda: (
                True
                if _request(client, "GET", f"/api/v1/namespaces/{doomed}").status_code == 404
                else None
            ),
        )

        # ... and the bootstrap controller recreates the kubernetes Service.
        path = "/api/v1/namespaces/default/services/kubernetes"
        old_uid = _request(client, "GET", path).json()["metadata"]["uid"]
        response = _request(client, "DELETE", path)
        assert response.status_code == 200, response.text

        def recreated() -> dict[str, Any] | None:
            response = _request(client, "GET", path)
            if response.status_code != 200:
                return None
            service = response.json()
            return service if service["metadata"]["uid"] != old_uid else None

        service = _until("the kubernetes Service to be recreated", time.monotonic() + 15, recreated)
        assert service["spec"]["clusterIP"] == "10.0.0.1"

        # The parent replaced the killed worker; the survivor still leads.
        replacement = pool.next_worker_ready(time.monotonic() + 15)
        assert replacement not in (leader, survivor)
        assert _holder_pid(client) == survivor


def test_workers_need_redis() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cp", "serve", "--workers", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2
    assert "--workers 2 needs --storage redis://" in out.stderr
