"""/healthz, /livez, /readyz and /version, in kube-apiserver's formats.

Each health endpoint runs named checks; `?verbose` lists them ("[+]ping ok"), a failure
answers 500 with the list, and /readyz/{check} runs one.  /readyz fails until every
watch cache has synced, so a load balancer (or a test) waits on it instead of sleeping.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cp.endpoints.http import Request, Send, encode_json, send_bytes

Check = Callable[[], Awaitable[str | None]]  # None: healthy; else why not


@dataclass(frozen=True, slots=True)
class NamedCheck:
    name: str
    run: Check


async def _ping() -> str | None:
    return None


PING = NamedCheck("ping", _ping)


async def serve_health(
    request: Request, send: Send, kind: str, checks: Sequence[NamedCheck], only: str = ""
) -> None:
    selected = [c for c in checks if not only or c.name == only]
    if only and not selected:
        await send_bytes(
            send, 404, b"404 page not found\n", content_type="text/plain; charset=utf-8"
        )
        return
    excluded = set(request.query.get("exclude", []))
    lines = []
    failed = False
    for check in selected:
        if check.name in excluded:
            lines.append(f"[+]{check.name} excluded: ok")
            continue
        problem = await check.run()
        if problem is None:
            lines.append(f"[+]{check.name} ok")
        else:
            failed = True
            lines.append(f"[-]{check.name} failed: reason withheld")
    verbose = "verbose" in request.query
    if failed:
        text = "\n".join(lines) + f"\n{kind} check failed\n"
        await send_bytes(send, 500, text.encode(), content_type="text/plain; charset=utf-8")
    elif verbose:
        text = "\n".join(lines) + f"\n{kind} check passed\n"
        await send_bytes(send, 200, text.encode(), content_type="text/plain; charset=utf-8")
    else:
        await send_bytes(send, 200, b"ok", content_type="text/plain; charset=utf-8")


def version_info(build_date: str) -> bytes:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return encode_json(
        {
            "major": "1",
            "minor": "32",
            "gitVersion": "v1.32.0-cp",
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": build_date,
            "goVersion": f"python{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}",
            "compiler": sys.implementation.name,
            "platform": f"{sys.platform}/{arch}",
        }
    )
