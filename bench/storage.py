"""Storage benchmark: write throughput and watch delivery latency through the cache.

For each store (memory, Redis), event loop (asyncio, trio) and number of watchers
(1, 100, 1000), two phases against one watch cache with that many watchers:
- throughput: eight writers create objects flat out; writes/s is acknowledged creates
  over the writing time, with every watcher attached and consuming;
- latency: one writer creates objects at a steady rate (below saturation); each object
  carries the time its write started and every watcher records how long after that it
  received the event: p50/p99 over all (watcher, event) pairs.
Memory runs in-process; Redis runs against a fresh redis-server (no persistence).
"""

from __future__ import annotations

import time
from typing import Any

import anyio

from bench.report import percentile, table, write_json
from cp.storage import History, MemoryStore, RedisStore, WatchCache
from cp.testing.redis_server import RedisServer

RESOURCE = "core/configmaps"
WRITERS = 8
PAYLOAD = "x" * 512


def _object(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"cm-{i}", "namespace": "bench"},
        "data": {"t": repr(time.perf_counter()), "payload": PAYLOAD},
    }


async def _measure(
    store: Any, watchers: int, writes: int, paced: int, rate: float
) -> dict[str, float]:
    cache = WatchCache(
        store, RESOURCE, kind="ConfigMap", api_version="v1", watcher_capacity=writes + paced + 10
    )
    latencies: list[float] = []
    total = writes + paced
    received = 0
    recording = False
    async with anyio.create_task_group() as tg:
        await tg.start(cache.run)
        burst_seen = anyio.Event()
        all_seen = anyio.Event()

        async def consume(w: Any) -> None:
            nonlocal received
            async for ev in w:
                if recording:
                    latencies.append(time.perf_counter() - float(ev.object["data"]["t"]))
                received += 1
                if received == watchers * writes:
                    burst_seen.set()
                if received == watchers * total:
                    all_seen.set()

        for _ in range(watchers):
            tg.start_soon(consume, await cache.watch(rv=cache.revision))

        counter = iter(range(writes))

        async def writer() -> None:
            for i in counter:
                await store.create(RESOURCE, f"bench/cm-{i}", _object(i))

        start = time.perf_counter()
        async with anyio.create_task_group() as writers_tg:
            for _ in range(WRITERS):
                writers_tg.start_soon(writer)
        elapsed = time.perf_counter() - start
        with anyio.fail_after(600):
            await burst_seen.wait()
        recording = True
        interval = 1.0 / rate
        next_at = time.perf_counter()
        for i in range(writes, total):
            await store.create(RESOURCE, f"bench/cm-{i}", _object(i))
            next_at += interval
            await anyio.sleep(max(0.0, next_at - time.perf_counter()))
        with anyio.fail_after(600):
            await all_seen.wait()
        tg.cancel_scope.cancel()
    latencies.sort()
    return {
        "writes_per_s": writes / elapsed,
        "paced_rate": rate,
        "deliveries": len(latencies),
        "latency_p50_ms": percentile(latencies, 50) * 1000,
        "latency_p99_ms": percentile(latencies, 99) * 1000,
    }


async def _run_memory(watchers: int, writes: int, paced: int, rate: float) -> dict[str, float]:
    return await _measure(MemoryStore(History()), watchers, writes, paced, rate)


async def _run_redis(
    url: str, watchers: int, writes: int, paced: int, rate: float
) -> dict[str, float]:
    async with RedisStore.from_url(url, history=History()) as store:
        return await _measure(store, watchers, writes, paced, rate)


def main(out: str | None = None, quick: bool = False) -> int:
    rows: list[dict[str, Any]] = []
    server = RedisServer(appendonly=False)
    server.start()
    try:
        for backend in ("memory", "redis"):
            for loop in ("asyncio", "trio"):
                for watchers in (1, 100, 1000):
                    writes = 200 if quick else (2000 if watchers < 1000 else 1000)
                    paced = 50 if quick else 300
                    # Steady load well below saturation: a rate each setup sustains.
                    rate = {1: 500.0, 100: 200.0, 1000: 50.0}[watchers]
                    server.flushall()
                    if backend == "memory":
                        result = anyio.run(_run_memory, watchers, writes, paced, rate, backend=loop)
                    else:
                        result = anyio.run(
                            _run_redis, server.url, watchers, writes, paced, rate, backend=loop
                        )
                    row = {
                        "store": backend,
                        "loop": loop,
                        "watchers": watchers,
                        "writes": writes,
                        **result,
                    }
                    rows.append(row)
                    print(
                        f"{backend:6} {loop:7} {watchers:5} watchers: "
                        f"{result['writes_per_s']:8.0f} writes/s; at {rate:.0f}/s "
                        f"p50 {result['latency_p50_ms']:7.2f} ms, p99 {result['latency_p99_ms']:7.2f} ms",
                        flush=True,
                    )
    finally:
        server.stop()
    print()
    print(
        table(
            rows,
            [
                "store",
                "loop",
                "watchers",
                "writes_per_s",
                "paced_rate",
                "latency_p50_ms",
                "latency_p99_ms",
            ],
        )
    )
    print(f"\nwritten to {write_json('storage', rows, out)}")
    return 0
