"""Several servers on one Redis: each has its own cache, all agree."""

from __future__ import annotations

import pytest

from cp.storage.redis import RedisStore
from tests.storage.test_store_contract import R, cm
from tests.support.caches import running_cache

pytestmark = pytest.mark.anyio


async def test_two_servers_share_versions_history_and_continue_tokens(fresh_redis):
    async with (
        RedisStore.from_url(fresh_redis.url, poll_interval=0.05) as one,
        RedisStore.from_url(fresh_redis.url, poll_interval=0.05) as two,
    ):
        assert one.epoch == two.epoch
        async with running_cache(one, R) as cache_one, running_cache(two, R) as cache_two:
            for i in range(6):
                store = one if i % 2 else two
                await store.create(R, f"default/s{i}", cm(f"s{i}"))
            # Versions come from one counter whichever server wrote.
            assert await one.current_revision(R) == await two.current_revision(R) == 6
            page = await cache_one.list(limit=4)
            rest = await cache_two.list(limit=4, continue_token=page.continue_token)
            assert [o.key for o in page.items + rest.items] == [f"default/s{i}" for i in range(6)]
            watcher = await cache_two.watch(rv=3)
            await one.update(R, "default/s0", cm("s0", v="x"))
            got = []
            async for ev in watcher:
                got.append((ev.type, ev.rv))
                if len(got) == 4:
                    break
            assert got == [("ADDED", 4), ("ADDED", 5), ("ADDED", 6), ("MODIFIED", 7)]
