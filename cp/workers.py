"""`cpd serve --workers N`: N server processes behind one listening socket.

Why: one Python process serves on one core. Several processes sharing one Redis
scale the API (each has its own watch caches fed by Redis's event logs) and survive the
loss of any one of them; the memory store lives inside one process, so N > 1 needs
Redis (see DESIGN.md, "Many processes").

How:

* The parent binds the socket once (so ``--port 0`` works and every worker serves the
  same port) and starts each worker as a fresh interpreter running the same
  ``cpd serve`` arguments plus ``--worker-fd FD``, the listening socket handed over with
  ``pass_fds``. The kernel gives each connection to whichever worker accepts it first.
  Exec'ing (not forking) keeps the parent's event loop, threads and connections out of
  the workers; each worker is an ordinary single-process ``cpd serve``.
* Workers run with leader election, each under its own identity ``hostname_pid``: the
  controllers run in one worker at a time. The Lease ``kube-system/cp-controller-manager``
  names the leader; its PID is the part of ``holderIdentity`` after the last ``_``.
* A worker that dies after it was ready is restarted with exponential backoff (1 s,
  doubling up to 30 s, back to 1 s once a worker has lived 60 s), as a kubelet restarts
  a crashed container; meanwhile the survivors keep serving and, if the dead worker
  led, one of them takes the Lease over within the lease duration. A worker that dies
  before it was *first* ready is a start-up failure instead (a bad flag, storage
  unreachable): the pool stops and cpd exits 1, rather than retrying an error forever.
* Workers run in their own sessions, so a terminal's Ctrl-C reaches only the parent,
  which asks every worker to stop (SIGTERM) once and SIGKILLs those still running after
  ``stop_timeout``; a second signal kills them at once. A worker's stdin is a pipe from
  the parent: should the parent die, even by kill -9, the worker reads EOF and shuts
  down, so no orphan keeps serving.
* Output, for people and tests: ``worker PID ready`` each time a worker (re)starts and
  is ready, and once all N were ready, ``serving on http://HOST:PORT (N workers)``.
  The exit status is 0 only if every worker stopped cleanly on shutdown.
"""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TextIO

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

logger = logging.getLogger(__name__)

READY_PREFIX = b"serving on "  # what a `cpd serve` prints once it is ready
MAX_LINE = 1 << 16


class WorkerStartError(Exception):
    """A worker exited before it was first ready; the pool does not start."""


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """``command`` starts one worker once ``--worker-fd FD`` is appended to it."""

    command: tuple[str, ...]
    workers: int
    bind_address: str = "127.0.0.1"
    port: int = 8080
    # How long a worker may take to stop after SIGTERM before it is killed.
    stop_timeout: float = 15.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    backoff_reset_after: float = 60.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be at least 1, got {self.workers}")


def bind_listener(address: str, port: int) -> socket.socket:
    """A listening TCP socket, as `cpd serve` binds its own (SO_REUSEADDR, backlog 1024)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        sock.listen(1024)
    except BaseException:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _describe(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


async def _read_line(stream: BufferedByteReceiveStream) -> bytes | None:
    """The next line (without its newline), or None at EOF. A plain function, not an
    async generator, so cancellation never leaves a generator suspended."""
    try:
        return await stream.receive_until(b"\n", MAX_LINE)
    except (anyio.IncompleteRead, anyio.EndOfStream):
        return None


class WorkerPool:
    """Runs and supervises the workers; see the module docstring."""

    def __init__(self, config: PoolConfig, sock: socket.socket, out: TextIO | None = None) -> None:
        self.config = config
        self.sock = sock
        self.url = _url(sock)
        self._out = out if out is not None else sys.stdout
        self._live: dict[int, Process] = {}  # slot -> its current worker
        self._ready_slots: set[int] = set()
        self._stopping = False
        self._clean = True
        self.restarts = 0

    def _print(self, line: str) -> None:
        print(line, file=self._out, flush=True)

    async def run(self) -> int:
        """Serve until SIGINT or SIGTERM; 0 if every worker then stopped cleanly.

        Raises WorkerStartError (in an exception group) if a worker dies before it was
        first ready."""
        workers_scope = anyio.CancelScope()
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._handle_signals, signals, workers_scope)
                with workers_scope:
                    async with anyio.create_task_group() as workers:
                        for slot in range(self.config.workers):
                            workers.start_soon(self._keep_running, slot, name=f"worker-slot-{slot}")
                # Every worker has stopped (each slot's cleanup waits for its worker).
                tg.cancel_scope.cancel()
        return 0 if self._clean else 1

    async def _handle_signals(
        self, signals: AsyncIterator[int], workers_scope: anyio.CancelScope
    ) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            if not self._stopping:
                logger.info("%s: stopping %d workers", name, len(self._live))
                self._stopping = True
                # Cancelling the slots stops each one's worker: SIGTERM, bounded wait.
                workers_scope.cancel()
            else:
                logger.warning("%s again: killing %d workers", name, len(self._live))
                self._clean = False
                for process in list(self._live.values()):
                    _kill(process)

    async def _keep_running(self, slot: int) -> None:
        """Keep one worker running in ``slot``: restart it with backoff when it dies."""
        backoff = self.config.backoff_base
        while True:
            started = anyio.current_time()
            pid, code = await self._run_worker(slot)
            lived = anyio.current_time() - started
            if lived >= self.config.backoff_reset_after:
                backoff = self.config.backoff_base
            logger.warning(
                "worker %d exited (%s) after %.1f s; restarting it in %.1f s",
                pid,
                _describe(code),
                lived,
                backoff,
            )
            # Backoff, not a wait for some state: shutdown cancels it.
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, self.config.backoff_max)
            self.restarts += 1

    async def _run_worker(self, slot: int) -> tuple[int, int]:
        """Start a worker in ``slot`` and return (pid, exit code) once it exits.

        If cancelled (shutdown, or another slot failed to start), stops the worker
        before returning, whatever happens: a worker never outlives its slot."""
        fd = self.sock.fileno()
        process = await anyio.open_process(
            [*self.config.command, "--worker-fd", str(fd)],
            stdin=subprocess.PIPE,  # its EOF tells the worker the parent is gone
            stdout=subprocess.PIPE,  # where it says it is ready
            stderr=None,  # its log goes where ours goes
            pass_fds=(fd,),
            start_new_session=True,  # Ctrl-C reaches the parent only, which forwards it
        )
        self._live[slot] = process
        try:
            assert process.stdout is not None
            ready = False
            stdout = BufferedByteReceiveStream(process.stdout)
            while (line := await _read_line(stdout)) is not None:
                if not ready and line.startswith(READY_PREFIX):
                    ready = True
                    self._worker_ready(slot, process.pid)
                elif not line.startswith(READY_PREFIX):
                    # Anything else a worker prints is passed on; the stream is read to
                    # its end either way, so a worker never blocks on a full pipe.
                    self._print(line.decode(errors="replace"))
            code = await process.wait()
            if not ready and slot not in self._ready_slots:
                raise WorkerStartError(
                    f"worker {process.pid} exited before it was ready ({_describe(code)}); "
                    "its log says why"
                )
            return process.pid, code
        finally:
            try:
                await self._stop(process)
            finally:
                # Listed while stopping, so that a second signal can kill it.
                del self._live[slot]

    def _worker_ready(self, slot: int, pid: int) -> None:
        self._print(f"worker {pid} ready")
        if slot not in self._ready_slots:
            self._ready_slots.add(slot)
            if len(self._ready_slots) == self.config.workers:
                self._print(f"serving on {self.url} ({self.config.workers} workers)")

    async def _stop(self, process: Process) -> None:
        """SIGTERM, wait at most stop_timeout, then SIGKILL; shielded, since it runs
        while being cancelled."""
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                try:
                    process.terminate()
                except ProcessLookupError:
                    pass
                with anyio.move_on_after(self.config.stop_timeout):
                    await process.wait()
                if process.returncode is None:
                    logger.warning("worker %d did not stop in time: killing it", process.pid)
                    self._clean = False
                    _kill(process)
            code = await process.wait()
            await process.aclose()
            if self._stopping and code != 0:
                logger.warning("worker %d stopped uncleanly (%s)", process.pid, _describe(code))
                self._clean = False


def _kill(process: Process) -> None:
    if process.returncode is None:
        try:
            process.kill()
        except ProcessLookupError:
            pass


async def serve_workers(config: PoolConfig, out: TextIO | None = None) -> int:
    """Bind, run the pool until a signal stops it, and close the socket."""
    with bind_listener(config.bind_address, config.port) as sock:
        return await WorkerPool(config, sock, out).run()
