from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from cp.storage.interface import History
from cp.storage.memory import MemoryStore
from cp.storage.redis import RedisStore
from cp.testing.redis_server import RedisServer


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh_redis(redis_server: RedisServer) -> RedisServer:
    redis_server.flushall()
    return redis_server


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def history() -> History:
    return History()


@pytest.fixture
async def store(
    store_kind: str, request: pytest.FixtureRequest, history: History
) -> AsyncIterator[MemoryStore | RedisStore]:
    if store_kind == "memory":
        yield MemoryStore(history)
        return
    server: RedisServer = request.getfixturevalue("fresh_redis")
    async with RedisStore.from_url(server.url, history=history, poll_interval=0.05) as s:
        yield s
