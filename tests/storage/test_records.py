"""Stored bytes and the watch cache's copy of them: the version spliced in, or decoded.

The cache puts each write's resourceVersion into the stored bytes without decoding
them when they start as encode_object writes them; anything else (bytes written by an
older server to Redis, a type cached without kind) takes the decode path.  Either way
every reader must see the same object, and selectors must match the same values.
"""

from __future__ import annotations

import json

import pytest

from cp.meta.labels import parse_label_selector
from cp.storage.records import (
    Record,
    encode_object,
    leading_fields_first,
    stored_prefix,
    with_resource_version,
)
from cp.storage.watcher import Filter
from tests.storage.test_store_contract import R, cm
from tests.support.caches import running_cache

pytestmark = pytest.mark.anyio


def test_stored_bytes_lead_with_kind_api_version_and_metadata() -> None:
    obj = {"data": {"a": "b"}, "metadata": {"name": "x", "resourceVersion": "9"}}
    obj |= {"apiVersion": "v1", "kind": "ConfigMap"}
    data = encode_object(obj)
    assert list(json.loads(data)) == ["kind", "apiVersion", "metadata", "data"]
    assert "resourceVersion" not in json.loads(data)["metadata"]
    assert obj["metadata"]["resourceVersion"] == "9"  # the caller's object is untouched
    assert list(leading_fields_first(obj)) == ["kind", "apiVersion", "metadata", "data"]


@pytest.mark.parametrize(
    "meta",
    [{"name": "x", "labels": {"a": "b"}}, {}],
    ids=["metadata", "empty metadata"],
)
def test_spliced_version_equals_decoded_record(meta: dict) -> None:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}
    record = Record("default/x", 12345, "", encode_object(obj))
    spliced = with_resource_version(record.data, record.rv, stored_prefix("ConfigMap", "v1"))
    assert spliced is not None
    assert json.loads(spliced) == record.decode()


def test_bytes_in_another_layout_are_not_spliced() -> None:
    older = json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}).encode()
    assert with_resource_version(older, 3, stored_prefix("ConfigMap", "v1")) is None
    other = encode_object({"apiVersion": "v1", "kind": "Secret", "metadata": {}})
    assert with_resource_version(other, 3, stored_prefix("ConfigMap", "v1")) is None


async def test_cache_serves_the_same_object_from_either_layout(store) -> None:
    """Bytes in the stored layout (spliced) and as an older server wrote them to Redis
    (apiVersion first: decoded) give the same object, labels and fields."""
    obj = cm("x", a="1")
    obj["metadata"]["labels"] = {"tier": "web"}
    older = json.dumps(obj).encode()
    async with running_cache(store, R) as cache:
        spliced = cache._cached(Record("default/x", 7, "", encode_object(obj)))
        decoded = cache._cached(Record("default/x", 7, "", older))
    assert spliced.known_labels is None  # nothing decoded until a selector asks
    for item in (spliced, decoded):
        assert json.loads(item.data) == item.obj
        assert item.obj["metadata"]["resourceVersion"] == "7"
        assert item.labels == {"tier": "web"}
        assert item.fields["metadata.name"] == "x"
        assert Filter("default", parse_label_selector("tier=web"))(item)
        assert not Filter("default", parse_label_selector("tier=db"))(item)
    assert spliced.obj == decoded.obj


async def test_selectors_over_a_live_cache(store) -> None:
    async with running_cache(store, R) as cache:
        for name, tier in (("a", "web"), ("b", "db")):
            obj = cm(name)
            obj["metadata"]["labels"] = {"tier": tier}
            await store.create(R, f"default/{name}", obj)
        result = await cache.list(Filter("default", parse_label_selector("tier=web")))
        assert [i.key for i in result.items] == ["default/a"]
