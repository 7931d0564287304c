"""A real `cpd serve` process per test module and loop, and the real kubectl against it.

The server runs as a subprocess on port 0 (it prints the address it bound), and the
fixture waits for /readyz with a deadline, never a sleep.  One server is shared by the
tests of a module; tests keep out of each other's way with their own namespaces.
"""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
START_DEADLINE = 20.0


@dataclass
class ApiServer:
    url: str
    loop: str
    process: subprocess.Popen[bytes]
    kubeconfig: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    @property
    def kubectl_cache(self) -> Path:
        """kubectl's cache directory for this server alone.  kubectl keeps discovery
        per host:port for hours, and later servers in a run reuse ports: with a shared
        cache, kubectl would skip discovery or believe another server's resources."""
        return self.kubeconfig.with_name(self.kubeconfig.name + "-kubectl-cache")

    def kubectl_argv(self, *args: str) -> list[str]:
        return [
            KUBECTL, "--kubeconfig", str(self.kubeconfig), "--cache-dir", str(self.kubectl_cache),
            *args,
        ]  # fmt: skip


def _read_address(process: subprocess.Popen[bytes], deadline: float) -> str:
    """The URL from the "serving on URL" line, waiting at most until `deadline`."""
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    buffer = b""
    while time.monotonic() < deadline:
        if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
            continue
        chunk = os.read(process.stdout.fileno(), 4096)
        if not chunk:
            raise RuntimeError(f"cpd exited before serving (rc={process.wait()})")
        buffer += chunk
        for line in buffer.decode(errors="replace").splitlines():
            if line.startswith("serving on "):
                return line.removeprefix("serving on ").strip()
    raise TimeoutError("cpd did not print its address in time")


def _wait_ready(url: str, deadline: float) -> None:
    with httpx.Client(timeout=2) as client:
        while True:
            try:
                if client.get(url + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("cpd did not become ready in time")
            # Bounded poll of a condition (readiness), not a sleep standing in for it.
            time.sleep(0.02)


def start_server(loop: str, tmp: Path, *extra: str) -> ApiServer:
    log = open(tmp / f"cpd-{loop}.log", "wb")  # noqa: SIM115 - closed by stop_server's caller
    process = subprocess.Popen(
        [sys.executable, "-m", "cp", "serve", "--port", "0", "--loop", loop, *extra],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    deadline = time.monotonic() + START_DEADLINE
    try:
        url = _read_address(process, deadline)
        _wait_ready(url, deadline)
    except BaseException:
        process.kill()
        process.wait()
        raise
    kubeconfig = tmp / f"kubeconfig-{loop}"
    out = subprocess.run(
        [sys.executable, "-m", "cp", "kubeconfig", "--server", url],
        check=True,
        capture_output=True,
        timeout=20,
    )
    kubeconfig.write_bytes(out.stdout)
    return ApiServer(url, loop, process, kubeconfig)


def stop_server(server: ApiServer) -> int:
    server.process.send_signal(signal.SIGTERM)
    try:
        return server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
        raise


def _serve(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    loop, _, storage = request.param.partition("-")
    extra: list[str] = []
    if storage == "redis":
        redis = request.getfixturevalue("redis_server")
        redis.flushall()
        extra = ["--storage", redis.url]
    server = start_server(loop, tmp_path_factory.mktemp(f"cpd-{request.param}"), *extra)
    yield server
    assert stop_server(server) == 0, "cpd did not shut down cleanly"


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """cpd on the memory store, on each loop."""
    yield from _serve(request, tmp_path_factory)


@pytest.fixture(scope="module", params=["asyncio", "trio", "asyncio-redis"])
def api_server_all_stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """cpd on each loop, and on Redis too; a module opts in by overriding `api_server`.

    The loop and the store are independent layers (the store is reached through anyio
    either way), so Redis runs on one loop to keep the suite fast; the storage tests
    cover coredis on both loops.
    """
    yield from _serve(request, tmp_path_factory)


@pytest.fixture
def namespace() -> str:
    return "t-" + uuid.uuid4().hex[:10]


@dataclass
class KubectlResult:
    returncode: int
    stdout: str
    stderr: str


class Kubectl:
    def __init__(self, server: ApiServer, namespace: str) -> None:
        self.server = server
        self.namespace = namespace

    def argv(self, *args: str) -> list[str]:
        return self.server.kubectl_argv("-n", self.namespace, *args)

    def run(self, *args: str, input: str | None = None, timeout: float = 30) -> KubectlResult:
        proc = subprocess.run(
            self.argv(*args), capture_output=True, text=True, input=input, timeout=timeout
        )
        return KubectlResult(proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
        return result.stdout

    def fails(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode != 0, (
            f"kubectl {' '.join(args)} unexpectedly succeeded: {result.stdout}"
        )
        return result.stderr


def create_namespace(server: ApiServer, name: str) -> None:
    with server.client() as client:
        response = client.post("/api/v1/namespaces", json={"metadata": {"name": name}})
        assert response.status_code == 201, response.text


@pytest.fixture
def kubectl(api_server: ApiServer, namespace: str) -> Kubectl:
    """kubectl aimed at a fresh namespace (kubectl reports a missing namespace instead
    of a missing object, as it does against Kubernetes, so the namespace must exist)."""
    create_namespace(api_server, namespace)
    return Kubectl(api_server, namespace)
