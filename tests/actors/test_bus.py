from __future__ import annotations

import anyio
import pytest

from actors import Bus, BusEvent, Lagged, SubscriptionClosed

from .helpers import settle

pytestmark = pytest.mark.anyio


async def test_versions_increase_per_topic() -> None:
    bus = Bus()
    assert bus.publish("pods", "p1") == BusEvent("pods", 1, "p1")
    assert bus.publish("nodes", "n1").version == 1
    assert bus.publish("pods", "p2").version == 2
    assert bus.last_version("pods") == 2
    assert bus.last_version("unknown") == 0


async def test_caller_supplied_versions_must_increase() -> None:
    bus = Bus()
    assert bus.publish("pods", "a", version=100).version == 100
    assert bus.publish("pods", "b").version == 101
    with pytest.raises(ValueError, match="does not exceed the last one, 101"):
        bus.publish("pods", "c", version=101)
    with pytest.raises(ValueError):
        bus.publish("pods", "c", version=5)
    assert bus.last_version("pods") == 101


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = Bus()
    with bus.subscribe("pods") as first, bus.subscribe("pods") as second:
        with bus.subscribe("nodes") as other:
            for i in range(3):
                bus.publish("pods", i)
            assert [(await first.receive()).payload for _ in range(3)] == [0, 1, 2]
            received = []
            async for event in second:
                received.append(event.version)
                if len(received) == 3:
                    break
            assert received == [1, 2, 3]
            with pytest.raises(anyio.WouldBlock):
                other.receive_nowait()


async def test_only_events_published_after_subscribing_are_delivered() -> None:
    bus = Bus()
    bus.publish("pods", "before")
    with bus.subscribe("pods") as sub:
        assert sub.last_version == 1
        bus.publish("pods", "after")
        assert (await sub.receive()).payload == "after"


async def test_a_waiting_receiver_is_woken_by_publish() -> None:
    bus = Bus()
    received: list[BusEvent[object]] = []
    with bus.subscribe("pods") as sub:
        async with anyio.create_task_group() as tg:

            async def receive() -> None:
                received.append(await sub.receive())

            tg.start_soon(receive)
            await settle()
            assert sub._waiter is not None
            bus.publish("pods", "x")
    assert [e.payload for e in received] == ["x"]


async def test_a_full_subscriber_lags_without_slowing_anyone() -> None:
    bus = Bus(queue_size=100)
    with bus.subscribe("pods", queue_size=2) as slow, bus.subscribe("pods") as fast:
        bus.publish("pods", "v1")
        assert (await slow.receive()).version == 1
        for i in range(2, 7):  # never blocks, whatever the subscribers do
            bus.publish("pods", f"v{i}")
        stats = slow.statistics()
        assert (stats.depth, stats.lagged, stats.dropped) == (0, 1, 5)  # memory stays bounded

        with pytest.raises(Lagged) as info:
            await slow.receive()
        assert (info.value.topic, info.value.last_version) == ("pods", 1)

        # The lag is reported once; then the subscription carries on with new events.
        bus.publish("pods", "v7")
        assert (await slow.receive()).version == 7
        assert slow.last_version == 7

        assert [(await fast.receive()).version for _ in range(7)] == [1, 2, 3, 4, 5, 6, 7]
        assert fast.statistics().lagged == 0


async def test_lagged_before_receiving_anything_reports_the_version_at_subscription() -> None:
    bus = Bus()
    bus.publish("pods", "old", version=41)
    with bus.subscribe("pods", queue_size=1) as sub:
        bus.publish("pods", "a")
        bus.publish("pods", "b")
        with pytest.raises(Lagged) as info:
            sub.receive_nowait()
        assert info.value.last_version == 41


async def test_a_waiting_receiver_learns_of_its_lag() -> None:
    bus = Bus()
    with bus.subscribe("pods", queue_size=1) as sub:
        bus.publish("pods", 1)
        bus.publish("pods", 2)
        with pytest.raises(Lagged):
            await sub.receive()


async def test_closing_unsubscribes_and_ends_receivers() -> None:
    bus = Bus()
    ended: list[str] = []
    with bus.subscribe("pods") as sub:
        assert bus.statistics().subscribers == 1

        async def consume() -> None:
            async for _ in sub:
                pass
            ended.append("iteration ended")

        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await settle()
            assert sub._waiter is not None
            sub.close()
    assert ended == ["iteration ended"]
    assert sub.closed
    assert bus.statistics().subscribers == 0
    with pytest.raises(SubscriptionClosed):
        await sub.receive()
    bus.publish("pods", "nobody listens")
    assert sub.statistics().received == 0


async def test_one_receiver_at_a_time() -> None:
    bus = Bus()
    with bus.subscribe("pods") as sub:
        async with anyio.create_task_group() as tg:
            tg.start_soon(sub.receive)
            await settle()
            assert sub._waiter is not None
            with pytest.raises(anyio.BusyResourceError):
                await sub.receive()
            bus.publish("pods", "x")


async def test_bus_statistics() -> None:
    bus = Bus()
    with bus.subscribe("a", queue_size=1) as a, bus.subscribe("b"):
        bus.publish("a", 1)
        bus.publish("a", 2)  # a lags, losing 2 events
        bus.publish("a", 3)  # still lagged: lost too
        bus.publish("c", 1)
        stats = bus.statistics()
        assert (stats.topics, stats.subscribers, stats.published) == (3, 2, 4)
        assert (stats.lagged, stats.dropped) == (1, 3)
        assert a.statistics().capacity == 1


def test_queue_sizes_are_validated() -> None:
    with pytest.raises(ValueError):
        Bus(queue_size=0)
    with pytest.raises(ValueError):
        Bus().subscribe("x", queue_size=0)
