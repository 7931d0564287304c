"""A real redis-server on a random loopback port, with kill -9, wipe and restart.

Shipped with cp (not only its tests) so users can drive the same faults in their own
chaos tests and benchmarks.

Never the shared server on 6379: each test session starts its own, with appendfsync
always so that a kill -9 loses no acknowledged write.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, *, appendonly: bool = True) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (make test installs it with apt)")
        self.binary = binary
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="cp-redis-")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        for _ in range(20):
            if not self.port:
                self.port = free_port()
            args = [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self.dir,
                "--save",
                "",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                os.path.join(self.dir, "redis.log"),
            ]
            if self.appendonly:
                args += ["--appendonly", "yes", "--appendfsync", "always"]
            else:
                args += ["--appendonly", "no"]
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_up():
                return
            self.proc.kill()
            self.proc.wait()
            self.port = 0
        raise RuntimeError("could not start redis-server")

    def _wait_up(self, deadline: float = 10.0) -> bool:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            assert self.proc is not None
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def kill(self) -> None:
        """kill -9: no shutdown, no final fsync beyond what appendfsync always did."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def wipe(self) -> None:
        """Forget everything on disk, so the next start comes back empty."""
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if name != "redis.log":
                if os.path.isdir(path):
                    shutil.rmtree(path)
                else:
                    os.remove(path)

    def restart(self) -> None:
        self.kill()
        port = self.port
        self.start()
        assert self.port == port or port == 0

    def flushall(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            assert s.recv(64).startswith(b"+OK")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
