"""The raw ASGI interface, kept to the few things a handler needs.

No framework: a request is the ASGI scope plus a bounded body reader, a response is a
status, headers and bytes.  Keeping it this small keeps the per-request cost close to
hypercorn's own, which is what the API server's throughput is measured against.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote

import msgspec

from cp.meta.status import ApiError, bad_request, request_entity_too_large

if TYPE_CHECKING:
    from cp.auth import UserInfo

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

JSON = "application/json"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


class Request:
    __slots__ = (
        "scope", "receive", "method", "path", "query", "headers", "user", "expired", "_body"
    )  # fmt: skip

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        raw_path = scope.get("raw_path")
        if raw_path:
            path = raw_path.decode("latin-1").split("?", 1)[0]
            self.path: str = unquote(path) if "%" in path else path
        else:
            self.path = scope["path"]
        qs = scope.get("query_string", b"")
        self.query: dict[str, list[str]] = (
            parse_qs(qs.decode("latin-1"), keep_blank_values=True) if qs else {}
        )
        self.headers: dict[str, str] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())
        }
        self._body: bytes | None = None
        # Set by authentication before any handler runs; None only before that.
        self.user: UserInfo | None = None
        # Set once the request ran past its deadline and was answered 504: a handler
        # still running must not act on it (cp.endpoints.inflight).
        self.expired = False

    @property
    def cached_body(self) -> bytes | None:
        """The body if it was read already (None otherwise)."""
        return self._body

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    async def body(self, limit: int) -> bytes:
        """The whole body; 413 as soon as it is known to exceed `limit`, before parsing."""
        if self._body is not None:
            return self._body
        declared = self.headers.get("content-length")
        expected = int(declared) if declared and declared.isdigit() else -1
        if expected > limit:
            raise request_entity_too_large(f"limit is {limit}")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                # Never act on part of a body (nobody is left to read the answer).
                raise bad_request("the client disconnected before sending the whole body")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise request_entity_too_large(f"limit is {limit}")
            chunks.append(chunk)
            # A declared length, once reached, is the whole body (the server frames by
            # it): the closing empty message need not be waited for.
            if size == expected or not message.get("more_body", False):
                break
        self._body = b"".join(chunks)
        return self._body


def decode_json(data: bytes) -> Any:
    """Decode a request body; malformed or too deeply nested JSON is a 400."""
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise bad_request(f"the object provided is unrecognized: {exc}") from exc
    except RecursionError as exc:
        raise bad_request("the object provided is unrecognized: JSON nesting is too deep") from exc


def encode_json(obj: Any) -> bytes:
    return _encoder.encode(obj)


def _headers(content_type: str, extra: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", content_type.encode()), (b"cache-control", b"no-cache, private")]
    headers.extend((k.encode("latin-1"), v.encode("latin-1")) for k, v in extra)
    return headers


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: str = JSON,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    hdrs = _headers(content_type, headers)
    hdrs.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": hdrs})
    await send({"type": "http.response.body", "body": body})


async def send_json(
    send: Send,
    status: int,
    obj: Any,
    *,
    content_type: str = JSON,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    await send_bytes(send, status, encode_json(obj), content_type=content_type, headers=headers)


async def send_error(send: Send, error: ApiError) -> None:
    await send_bytes(send, error.code, encode_json(error.status), headers=error.headers)


async def start_stream(send: Send, status: int, content_type: str = JSON) -> None:
    """Begin a chunked response (watch): no content-length, body sent piece by piece."""
    await send(
        {"type": "http.response.start", "status": status, "headers": _headers(content_type, ())}
    )
