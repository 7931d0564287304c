"""`cpd` as a user runs it: help, kubeconfig, and clear failures at start-up."""

from __future__ import annotations

import socket
import subprocess
import sys

import yaml


def _cpd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cp", *args], capture_output=True, text=True, timeout=30
    )


def test_help_lists_the_flags() -> None:
    out = _cpd("serve", "--help").stdout
    for flag in (
        "--bind-address",
        "--port",
        "--storage",
        "--loop",
        "--watch-history-events",
        "--watch-history-seconds",
    ):
        assert flag in out


def test_kubeconfig() -> None:
    config = yaml.safe_load(_cpd("kubeconfig", "--server", "http://127.0.0.1:1234").stdout)
    assert config["kind"] == "Config"
    assert config["clusters"][0]["cluster"]["server"] == "http://127.0.0.1:1234"
    assert config["current-context"] == config["contexts"][0]["name"]


def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _cpd("serve", "--port", str(port))
    assert result.returncode == 1
    assert result.stderr.strip() == "cpd: error: [Errno 98] Address already in use"


def test_unreachable_redis_is_a_clear_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    result = _cpd("serve", "--port", "0", "--storage", f"redis://127.0.0.1:{port}/0")
    assert result.returncode == 1
    assert result.stderr.startswith("cpd: error: storage unavailable")


def test_bad_flags_are_refused() -> None:
    result = _cpd("serve", "--storage", "etcd://x")
    assert result.returncode == 2 and "expected 'memory' or redis://HOST:PORT/DB" in result.stderr
