"""CPU instructions per request, counted by valgrind's callgrind: the API benchmark's
ratio without the noise.

Why: `python -m bench api` measures requests/s with client processes sharing the CPUs
with the server, so its creates/s over trivial/s ratio moves by a tenth between runs
on a busy 2-core machine, too much to tell a 3% change of the create path.  Counting
the instructions the server process executes per request is repeatable to a fraction
of a percent, whatever else the machine is doing.  It is not time (a cache miss costs
more than an add), but for an interpreter the two track each other closely, and the
instruction ratio of creates to the trivial endpoint is the figure to compare across
changes and machines.

How: ``cpd serve --port 0`` runs under ``valgrind --tool=callgrind`` with
instrumentation off (start-up at a few times native speed); one keep-alive client
sends requests one at a time; for each kind (``GET /version``, ``POST`` ConfigMap,
``GET`` ConfigMap) ``callgrind_control`` switches counting on, zeroes, and dumps after
``N`` requests.  Sequential requests leave out what concurrency adds (batching, the
collector's work on in-flight requests); `bench api` keeps measuring that.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from bench.api import cpd_server
from bench.report import table, write_json

START_TIMEOUT = 300.0  # the server under valgrind, cold
WARMUP = 50
KINDS = ("version", "create", "get")
NAMESPACE = "bench"
PAYLOAD = "x" * 256


class ToolMissing(RuntimeError):
    """valgrind or callgrind_control is not installed."""


def _configmap(name: str) -> bytes:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name},
            "data": {"payload": PAYLOAD},
        }
    ).encode()


def _callgrind(out_dir: Path) -> list[str]:
    """valgrind's callgrind with counting off until callgrind_control turns it on."""
    return [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_dir}/callgrind.out.%p",
    ]


def _control(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, check=True)


def _dumped_total(out_dir: Path, pid: int, part: str) -> int:
    """The instruction total of the dump triggered as `callgrind_control -d part`."""
    trigger = re.compile(rf"^desc: Trigger: dump {re.escape(part)}$", re.M)
    for path in out_dir.glob(f"callgrind.out.{pid}*"):
        text = path.read_text(errors="replace")
        match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        if match and trigger.search(text):
            return int(match.group(1))
    raise RuntimeError(f"no callgrind dump for {part} in {out_dir}")


def measure(loop: str, requests: int) -> dict[str, float]:
    """Instructions per request of each kind, on one server running on `loop`."""
    with tempfile.TemporaryDirectory() as tmp:
        out_dir = Path(tmp)
        with cpd_server(loop, wrapper=_callgrind(out_dir), start_timeout=START_TIMEOUT) as (
            url,
            pid,
        ):
            host, port = url.removeprefix("http://").rsplit(":", 1)
            conn = http.client.HTTPConnection(host, int(port), timeout=120)

            def call(method: str, path: str, body: bytes | None = None) -> int:
                headers = {"content-type": "application/json"} if body is not None else {}
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                return response.status

            ns = json.dumps(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
            )
            if call("POST", "/api/v1/namespaces", ns.encode()) != 201:
                raise RuntimeError("could not create the namespace")
            collection = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
            for i in range(WARMUP):
                call("GET", "/version")
                call("POST", collection, _configmap(f"warm-{i}"))
                call("GET", f"{collection}/warm-{i}")
            per_request: dict[str, float] = {}
            for kind in KINDS:
                _control(pid, "-i", "on")
                _control(pid, "-z")
                for i in range(requests):
                    if kind == "version":
                        status = call("GET", "/version")
                    elif kind == "create":
                        status = call("POST", collection, _configmap(f"c-{i}"))
                    else:
                        status = call("GET", f"{collection}/c-{i}")
                    if status not in (200, 201):
                        raise RuntimeError(f"{kind} {i}: HTTP {status}")
                _control(pid, "-d", kind)
                _control(pid, "-i", "off")
                per_request[kind] = _dumped_total(out_dir, pid, kind) / requests
            conn.close()
            return per_request


def main(out: str | None = None, quick: bool = False) -> int:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise ToolMissing("valgrind (with callgrind_control) is needed: apt install valgrind")
    requests = 20 if quick else 300
    rows: list[dict[str, Any]] = []
    for loop in ("asyncio",) if quick else ("asyncio", "trio"):
        counts = measure(loop, requests)
        for kind in KINDS:
            rows.append(
                {
                    "loop": loop,
                    "request": kind,
                    "requests": requests,
                    "k_instructions": counts[kind] / 1000,
                }
            )
        rows.append(
            {
                "loop": loop,
                "request": "ratio version/create",
                "ratio": counts["version"] / counts["create"],
            }
        )
        print(f"{loop:7} version/create instructions: {counts['version'] / counts['create']:.3f}")
    print()
    print(table(rows, ["loop", "request", "requests", "k_instructions", "ratio"]))
    print(f"\ninstructions of the server process per request (callgrind), {os.cpu_count()} CPUs")
    path = write_json("instructions", rows, out)
    print(f"wrote {path}")
    return 0
