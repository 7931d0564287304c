"""Continue tokens: where a paginated list stopped, at which snapshot, signed.

The token carries the snapshot's resourceVersion and the last key returned, like
kube-apiserver's, plus an HMAC so a forged or edited token is refused (400) instead of
being trusted to read an arbitrary revision.  The secret comes from the store, so every
server sharing a store accepts the others' tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec

from cp.storage.errors import InvalidRequest


class _Token(msgspec.Struct, frozen=True):
    v: str
    rv: int
    start: str


_VERSION = "meta.k8s.io/v1"
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode_continue(secret: bytes, rv: int, last_key: str) -> str:
    payload = _encoder.encode(_Token(_VERSION, rv, last_key + "\x00"))
    mac = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    return _b64(payload) + "." + _b64(mac)


def decode_continue(secret: bytes, token: str) -> tuple[int, str]:
    """Return (snapshot rv, key to continue after). Raises InvalidRequest."""
    try:
        body, _, mac_text = token.partition(".")
        payload = _unb64(body)
        mac = _unb64(mac_text)
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidRequest("continue key is not valid: malformed token") from exc
    expected = hmac.new(secret, payload, hashlib.sha256).digest()[:16]
    if not hmac.compare_digest(mac, expected):
        raise InvalidRequest("continue key is not valid: the token was not issued by this server")
    try:
        tok = _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise InvalidRequest("continue key is not valid: malformed token") from exc
    if tok.v != _VERSION or tok.rv <= 0 or not tok.start.endswith("\x00"):
        raise InvalidRequest(
            f"continue key is not valid: incorrect encoded start resourceVersion (version {_VERSION} required)"
        )
    return tok.rv, tok.start[:-1]
