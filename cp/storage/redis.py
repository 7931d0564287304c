"""The durable store on Redis (coredis), with the same contract as the memory store.

Why it is shaped this way:
- Each write is one Lua script (see redis_scripts) so check-and-write is atomic and all
  keys of a type sit in one Cluster slot.
- Writes are never retried by the client: a script whose reply was lost may have run,
  and running it again would write twice.  The caller gets Unavailable and decides.
- Every call is shielded and bounded: a request cancelled mid-command would otherwise
  leave coredis' connection half-read, or its pool slot leaked.  Finishing a command
  that was already sent costs at most the bound, and keeps the pool healthy.
- Stream tailing uses its own client, so a blocking XREAD never shares a connection
  with request traffic, and polls with a short BLOCK instead of being cancelled.
- An epoch key ties the data to one history: a Redis that came back empty, or older
  than what this process has served, is refused rather than reissuing versions.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlparse

import anyio
import anyio.lowlevel
import coredis
import coredis.exceptions
from coredis.retry import NoRetryPolicy

from cp.storage import redis_scripts
from cp.storage.errors import (
    AlreadyExists,
    Gone,
    NotFound,
    StorageError,
    Unavailable,
    precondition_failed,
)
from cp.storage.interface import History
from cp.storage.records import EventType, Record, StoreEvent, encode_object, object_uid

EPOCH_KEY = "cp:epoch"
SECRET_KEY = "cp:continue-secret"
_EVENT_TYPES = {
    b"ADDED": EventType.ADDED,
    b"MODIFIED": EventType.MODIFIED,
    b"DELETED": EventType.DELETED,
}


def _parse_value(key: str, value: bytes) -> Record:
    header, _, data = value.partition(b"\n")
    rv, _, uid = header.partition(b" ")
    return Record(key, int(rv), uid.decode(), data)


class _Keys:
    __slots__ = ("rev", "objects", "log", "epoch", "all")

    def __init__(self, resource: str) -> None:
        tag = "{" + resource + "}"
        self.rev = tag + ":rev"
        self.objects = tag + ":objects"
        self.log = tag + ":log"
        self.epoch = tag + ":epoch"
        self.all = [self.rev, self.objects, self.log, self.epoch]


class RedisStore:
    """Use as `async with RedisStore.from_url(url) as store:`; the clients live inside."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 6379,
        db: int = 0,
        *,
        history: History | None = None,
        max_connections: int = 64,
        command_timeout: float = 10.0,
        poll_interval: float = 0.2,
    ) -> None:
        self.history = history or History()
        self.command_timeout = command_timeout
        self.poll_interval = poll_interval
        common: dict[str, Any] = dict(
            host=host,
            port=port,
            db=db,
            decode_responses=False,
            retry_policy=NoRetryPolicy(),
            connect_timeout=command_timeout,
            stream_timeout=command_timeout,
        )
        self._client = coredis.Redis(max_connections=max_connections, **common)
        self._tail_client = coredis.Redis(max_connections=max_connections, **common)
        self._stack: AsyncExitStack | None = None
        self._epoch = ""
        self._bound: set[str] = set()
        self._seen: dict[str, int] = {}
        self._keys: dict[str, _Keys] = {}
        self._scripts: dict[str, Any] = {}
        self.address = f"redis://{host}:{port}/{db}"

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> RedisStore:
        u = urlparse(url)
        if u.scheme != "redis":
            raise ValueError(f"unsupported storage URL {url!r}: expected redis://HOST:PORT/DB")
        db = int(u.path.strip("/") or 0)
        return cls(u.hostname or "127.0.0.1", u.port or 6379, db, **kw)

    async def __aenter__(self) -> RedisStore:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self._client)
            await stack.enter_async_context(self._tail_client)
            for name in ("CREATE", "UPDATE", "DELETE", "GET", "LIST", "STATE", "BIND"):
                self._scripts[name] = self._client.register_script(getattr(redis_scripts, name))
            await self._load_epoch()
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            # Not shielded here: the clients' task groups must exit in their own scopes.
            await stack.aclose()

    async def _load_epoch(self) -> None:
        fresh = uuid.uuid4().hex
        await self._call(self._client.set(EPOCH_KEY, fresh, condition=coredis.PureToken.NX))
        epoch = await self._call(self._client.get(EPOCH_KEY))
        self._epoch = epoch.decode()

    @property
    def epoch(self) -> str:
        return self._epoch

    async def _call(self, request: Any, *, timeout: float | None = None) -> Any:
        """Run one command to completion even if the caller is cancelled meanwhile.

        A caller already cancelled starts nothing: without this checkpoint a loop of
        shielded calls would never see its cancellation.
        """
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            if hasattr(request, "close"):  # a script call is a coroutine: never started
                request.close()
            raise
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(timeout or self.command_timeout) as scope:
                try:
                    return await request
                except coredis.exceptions.ResponseError as exc:
                    raise self._translate(str(exc)) from exc
                except (coredis.exceptions.RedisError, OSError) as exc:
                    raise Unavailable(f"storage unavailable: {exc}") from exc
            if scope.cancelled_caught:
                raise Unavailable("storage unavailable: the command timed out")
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate(self, message: str) -> StorageError:
        code, _, detail = message.partition(" ")
        if code == "CPEPOCH":
            return Unavailable(
                "storage unavailable: the Redis data does not belong to this server's "
                f"history (epoch {detail}, expected {self._epoch}); it was reset or replaced",
                data_loss=True,
            )
        if code == "CPOLDER":
            return Unavailable(
                f"storage unavailable: Redis is at revision {detail}, older than this "
                "server has already served; it lost acknowledged writes",
                data_loss=True,
            )
        return StorageError(message)

    def _k(self, resource: str) -> _Keys:
        k = self._keys.get(resource)
        if k is None:
            k = self._keys[resource] = _Keys(resource)
        return k

    async def _bind(self, resource: str, keys: _Keys) -> None:
        if resource in self._bound:
            return
        current = await self._call(self._client.get(EPOCH_KEY))
        if current is None or current.decode() != self._epoch:
            raise self._translate(f"CPEPOCH {current!r}")
        await self._call(self._scripts["BIND"](keys=keys.all, args=[self._epoch]))
        self._bound.add(resource)

    async def _run(self, name: str, resource: str, *extra: Any) -> Any:
        keys = self._k(resource)
        await self._bind(resource, keys)
        args = [
            self._epoch,
            self._seen.get(resource, 0),
            self.history.max_events,
            int(self.history.max_seconds * 1000),
            *extra,
        ]
        return await self._call(self._scripts[name](keys=keys.all, args=args))

    def _observe(self, resource: str, rv: int) -> None:
        if rv > self._seen.get(resource, 0):
            self._seen[resource] = rv

    async def create(self, resource: str, key: str, obj: dict[str, Any]) -> Record:
        data = encode_object(obj)
        uid = object_uid(obj)
        try:
            rev = await self._run("CREATE", resource, key, uid, data)
        except StorageError as exc:
            if exc.message == "CPEXISTS":
                raise AlreadyExists(f"{key} already exists", resource=resource, key=key) from exc
            raise
        self._observe(resource, rev)
        return Record(key, rev, uid, data)

    async def get(self, resource: str, key: str) -> Record:
        value = await self._run("GET", resource, key)
        if value is None:
            raise NotFound(f"{key} not found", resource=resource, key=key)
        return _parse_value(key, value)

    async def list(self, resource: str) -> tuple[list[Record], int]:
        rev, flat = await self._run("LIST", resource)
        it = iter(flat)
        records = [_parse_value(k.decode(), v) for k, v in zip(it, it, strict=True)]
        self._observe(resource, rev)
        return records, rev

    def _precondition_error(
        self, exc: StorageError, resource: str, key: str, rv: int | None, uid: str | None
    ) -> StorageError:
        code, _, actual = exc.message.partition(" ")
        if code == "CPNOTFOUND":
            return NotFound(f"{key} not found", resource=resource, key=key)
        if code == "CPUID":
            return precondition_failed("uid", str(uid), actual, resource, key)
        if code == "CPRV":
            return precondition_failed("resourceVersion", str(rv), actual, resource, key)
        return exc

    async def update(
        self,
        resource: str,
        key: str,
        obj: dict[str, Any],
        *,
        rv: int | None = None,
        uid: str | None = None,
    ) -> Record:
        data = encode_object(obj)
        try:
            rev, stored_uid = await self._run(
                "UPDATE", resource, key, "" if rv is None else rv, uid or "", data
            )
        except StorageError as exc:
            err = self._precondition_error(exc, resource, key, rv, uid)
            if err is exc:
                raise
            raise err from exc
        self._observe(resource, rev)
        return Record(key, rev, stored_uid.decode(), data)

    async def delete(
        self, resource: str, key: str, *, rv: int | None = None, uid: str | None = None
    ) -> Record:
        try:
            value = await self._run("DELETE", resource, key, "" if rv is None else rv, uid or "")
        except StorageError as exc:
            err = self._precondition_error(exc, resource, key, rv, uid)
            if err is exc:
                raise
            raise err from exc
        rec = _parse_value(key, value)
        self._observe(resource, rec.rv)
        return rec

    async def current_revision(self, resource: str) -> int:
        rev, _ = await self._run("STATE", resource)
        self._observe(resource, rev)
        return rev

    async def _check_position(self, resource: str, cursor: int) -> None:
        """Raise Gone if events after `cursor` were trimmed, Unavailable if data was lost."""
        rev, first = await self._run("STATE", resource)
        if rev < cursor:
            raise self._translate(f"CPOLDER {rev}")
        if rev > cursor:
            first_rv = int(first.split(b"-")[0]) if first else rev + 1
            if first_rv > cursor + 1:
                raise Gone(
                    f"too old resource version: {cursor} ({first_rv - 1})", resource=resource
                )

    @asynccontextmanager
    async def watch(self, resource: str, from_rv: int) -> AsyncIterator[AsyncIterator[StoreEvent]]:
        await self._check_position(resource, from_rv)
        yield self._tail(resource, from_rv)

    async def _tail(self, resource: str, cursor: int) -> AsyncIterator[StoreEvent]:
        keys = self._k(resource)
        block_ms = max(1, int(self.poll_interval * 1000))
        idle_checks = max(1, math.ceil(1.0 / self.poll_interval))
        idle = 0
        while True:
            reply = await self._call(
                self._tail_client.xread({keys.log: f"{cursor}-0"}, count=1024, block=block_ms),
                timeout=self.poll_interval + self.command_timeout,
            )
            entries = reply.get(keys.log.encode(), ()) if reply else ()
            if not entries:
                idle += 1
                if idle >= idle_checks:
                    # Quiet streams are where a reset Redis hides: look once a second.
                    idle = 0
                    await self._check_position(resource, cursor)
                continue
            idle = 0
            for entry in entries:
                rv = int(entry.identifier.split(b"-")[0])
                if rv != cursor + 1:
                    # Versions are contiguous: a jump means XREAD skipped trimmed events.
                    raise Gone(f"too old resource version: {cursor} ({rv - 1})", resource=resource)
                fields = entry.field_values
                key = fields[b"k"].decode()
                record = _parse_value(key, fields[b"v"])
                self._observe(resource, rv)
                cursor = rv
                yield StoreEvent(_EVENT_TYPES[fields[b"e"]], record)

    async def token_secret(self) -> bytes:
        fresh = os.urandom(32).hex()
        await self._call(self._client.set(SECRET_KEY, fresh, condition=coredis.PureToken.NX))
        value = await self._call(self._client.get(SECRET_KEY))
        if value is None:
            raise Unavailable("storage unavailable: the continue-token secret vanished")
        return bytes.fromhex(value.decode())
