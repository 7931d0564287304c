"""The official `kubernetes` Python client against a live cpd, on both event loops."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from tests.api.conftest import ApiServer, create_namespace, start_server, stop_server


def _core(server: ApiServer) -> client.CoreV1Api:
    config = client.Configuration()
    config.host = server.url
    return client.CoreV1Api(client.ApiClient(config))


@pytest.fixture(scope="module")
def api_server(api_server_all_stores: ApiServer) -> ApiServer:
    """This module runs on both stores (memory and Redis) as well as both loops."""
    return api_server_all_stores


@pytest.fixture
def core(api_server: ApiServer, namespace: str) -> client.CoreV1Api:
    create_namespace(api_server, namespace)
    return _core(api_server)


def _cm(
    name: str, labels: dict[str, str] | None = None, data: dict[str, str] | None = None
) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels), data=data)


def test_crud(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, _cm("a", data={"k": "v"}))
    assert created.metadata.uid and created.metadata.resource_version
    read = core.read_namespaced_config_map("a", namespace)
    assert read.data == {"k": "v"} and read.metadata.uid == created.metadata.uid
    read.data["k"] = "v2"
    replaced = core.replace_namespaced_config_map("a", namespace, read)
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_config_map("a", namespace, {"metadata": {"labels": {"x": "y"}}})
    assert patched.metadata.labels == {"x": "y"} and patched.data == {"k": "v2"}
    # A replace carrying a stale resourceVersion conflicts.
    with pytest.raises(ApiException) as conflict:
        core.replace_namespaced_config_map("a", namespace, replaced)
    assert conflict.value.status == 409
    status = core.delete_namespaced_config_map("a", namespace)
    assert status["status"] == "Success" and status["details"]["uid"] == created.metadata.uid
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("a", namespace)
    assert missing.value.status == 404


def test_delete_preconditions(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_config_map(namespace, _cm("p"))
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-the-uid"))
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map("p", namespace, body=body)
    assert exc.value.status == 409
    assert "Precondition failed: UID in precondition: not-the-uid" in exc.value.body
    body = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=created.metadata.uid))
    core.delete_namespaced_config_map("p", namespace, body=body)


def test_list_with_selectors_and_paging(core: client.CoreV1Api, namespace: str) -> None:
    for i in range(5):
        core.create_namespaced_config_map(
            namespace, _cm(f"c{i}", labels={"parity": "even" if i % 2 == 0 else "odd"})
        )
    even = core.list_namespaced_config_map(namespace, label_selector="parity=even")
    assert [i.metadata.name for i in even.items] == ["c0", "c2", "c4"]
    one = core.list_namespaced_config_map(namespace, field_selector="metadata.name=c3")
    assert [i.metadata.name for i in one.items] == ["c3"]
    page = core.list_namespaced_config_map(namespace, limit=2)
    names = [i.metadata.name for i in page.items]
    assert page.metadata.remaining_item_count == 3
    while page.metadata._continue:
        page = core.list_namespaced_config_map(
            namespace, limit=2, _continue=page.metadata._continue
        )
        names += [i.metadata.name for i in page.items]
    assert names == [f"c{i}" for i in range(5)]
    with pytest.raises(ApiException) as exc:
        core.list_namespaced_config_map(namespace, label_selector="a in (")
    assert exc.value.status == 400


def test_watch_resumes_from_resource_version(core: client.CoreV1Api, namespace: str) -> None:
    core.create_namespaced_config_map(namespace, _cm("w0"))
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("w1"))
    core.patch_namespaced_config_map("w1", namespace, {"data": {"a": "b"}})
    core.delete_namespaced_config_map("w0", namespace)
    w = watch.Watch()
    seen = []
    for event in w.stream(
        core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 3:
            w.stop()
    assert seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w0")]


def test_watch_sees_concurrent_change(core: client.CoreV1Api, namespace: str) -> None:
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    w = watch.Watch()
    # The watch is opened from `rv`, so the write may happen before or after it connects.
    writer = threading.Thread(
        target=core.create_namespaced_config_map, args=(namespace, _cm("later"))
    )
    writer.start()
    try:
        for event in w.stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=10
        ):
            assert (event["type"], event["object"].metadata.name) == ("ADDED", "later")
            w.stop()
    finally:
        writer.join(timeout=10)


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def short_history_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    server = start_server(
        request.param, tmp_path_factory.mktemp("short"), "--watch-history-events", "3"
    )
    yield server
    assert stop_server(server) == 0


def test_watch_from_compacted_version_is_gone(
    short_history_server: ApiServer, namespace: str
) -> None:
    create_namespace(short_history_server, namespace)
    core = _core(short_history_server)
    first = core.create_namespaced_config_map(namespace, _cm("g0"))
    for i in range(1, 8):
        core.create_namespaced_config_map(namespace, _cm(f"g{i}"))
    w = watch.Watch()
    with pytest.raises(ApiException) as exc:
        for _ in w.stream(
            core.list_namespaced_config_map,
            namespace,
            resource_version=first.metadata.resource_version,
            timeout_seconds=5,
        ):
            pass
    assert exc.value.status == 410
    # Re-listing and watching from the fresh version works.
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    core.create_namespaced_config_map(namespace, _cm("after"))
    for event in w.stream(
        core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=10
    ):
        assert event["object"].metadata.name == "after"
        w.stop()
