"""--token-auth-file: static bearer tokens from a CSV file read once at start-up.

Each record is `token,user,uid[,"group1,group2"]`; further columns are ignored.  As
kube-apiserver's tokenfile package does:

- fewer than three columns is an error (here it names the line);
- a record with an empty token is skipped with a warning;
- a token listed twice is a warning, and the later record wins;
- the fourth column is split on every comma, so an empty fourth column is one group
  named "" and "a,,b" has three groups.

The file is decoded byte for byte (latin-1), as request headers are, so that a token
matches exactly the bytes a client sends; names, uids and groups are then read as
UTF-8.  Lookup is a dict lookup, as kube's is a map lookup: not a constant-time
comparison.  The dict hashes the presented token first (SipHash with this process's
random key) and compares strings only on a hash match, so response timing says
nothing useful about how much of a guess was right.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from cp.auth._csv import CsvError, read_records
from cp.auth.user import UserInfo

__all__ = ["TokenFileAuthenticator", "TokenFileError", "parse_token_file"]

log = logging.getLogger(__name__)


class TokenFileError(ValueError):
    """The token file cannot be used; the server must not start with it."""


def _text(value: str) -> str:
    return value.encode("latin-1").decode("utf-8", errors="replace")


def parse_token_file(data: bytes, path: str = "<token file>") -> dict[str, UserInfo]:
    """The users by token, from the file's bytes; TokenFileError names the bad line."""
    tokens: dict[str, UserInfo] = {}
    try:
        for line, record in read_records(data.decode("latin-1")):
            if len(record) < 3:
                raise TokenFileError(
                    f"token file '{path}' line {line}: must have at least 3 columns "
                    f"(token, user name, user uid), found {len(record)}"
                )
            token = record[0]
            if not token:
                log.warning("empty token has been found in token file '%s', line %d", path, line)
                continue
            if token in tokens:
                log.warning(
                    "duplicate token has been found in token file '%s', line %d: "
                    "this later record replaces the earlier one",
                    path,
                    line,
                )
            groups = tuple(_text(g) for g in record[3].split(",")) if len(record) >= 4 else ()
            tokens[token] = UserInfo(_text(record[1]), _text(record[2]), groups)
    except CsvError as exc:
        raise TokenFileError(f"token file '{path}' {exc}") from exc
    return tokens


class TokenFileAuthenticator:
    """A TokenAuthenticator over a fixed set of tokens."""

    __slots__ = ("_tokens",)

    def __init__(self, tokens: Mapping[str, UserInfo]) -> None:
        self._tokens = dict(tokens)

    @classmethod
    def from_file(cls, path: str | Path) -> TokenFileAuthenticator:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise TokenFileError(
                f"token file '{path}' cannot be read: {exc.strerror or exc}"
            ) from exc
        return cls(parse_token_file(data, str(path)))

    def __len__(self) -> int:
        return len(self._tokens)

    def authenticate_token(self, token: str) -> UserInfo | None:
        return self._tokens.get(token)
