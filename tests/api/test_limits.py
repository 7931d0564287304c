"""Explicit limits: in-flight requests (429 with Retry-After) and request timeouts (504)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import ApiServer, create_namespace, start_server, stop_server


@pytest.fixture(scope="module", params=["asyncio", "trio"])
def limited_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    server = start_server(
        request.param, tmp_path_factory.mktemp("limited"), "--max-requests-inflight", "1"
    )
    yield server
    assert stop_server(server) == 0


def _wait_for_inflight(client: httpx.Client, count: int) -> None:
    """Poll /metrics (itself not limited) until `count` read requests are in flight."""
    for _ in range(500):
        text = client.get("/metrics").text
        if f'apiserver_current_inflight_requests{{request_kind="readOnly"}} {count}' in text:
            return
    raise AssertionError("the blocked request never became in-flight")


def test_too_many_requests_then_recovers(limited_server: ApiServer, namespace: str) -> None:
    create_namespace(limited_server, namespace)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    with limited_server.client() as client:
        rv = int(
            client.post(path, json={"metadata": {"name": "a"}}).json()["metadata"][
                "resourceVersion"
            ]
        )
        # A list at the next version waits for the cache to reach it: it holds the only slot.
        blocked: dict[str, httpx.Response] = {}
        waiter = threading.Thread(
            target=lambda: blocked.setdefault(
                "r",
                httpx.get(
                    limited_server.url + path, params={"resourceVersion": rv + 1}, timeout=10
                ),
            )
        )
        waiter.start()
        try:
            _wait_for_inflight(client, 1)
            rejected = client.get(path)
            assert rejected.status_code == 429
            assert rejected.headers["retry-after"] == "1"
            assert rejected.json()["reason"] == "TooManyRequests"
            # Mutating requests have their own limit; this write also releases the waiter.
            assert client.post(path, json={"metadata": {"name": "b"}}).status_code == 201
        finally:
            waiter.join(timeout=10)
        assert blocked["r"].status_code == 200
        assert [i["metadata"]["name"] for i in blocked["r"].json()["items"]] == ["a", "b"]
        assert client.get(path).status_code == 200


def test_request_timeout_parameter(limited_server: ApiServer, namespace: str) -> None:
    create_namespace(limited_server, namespace)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    with limited_server.client() as client:
        rv = int(
            client.post(path, json={"metadata": {"name": "t"}}).json()["metadata"][
                "resourceVersion"
            ]
        )
        response = client.get(path, params={"resourceVersion": rv + 1, "timeout": "200ms"})
        assert response.status_code == 504
        body = response.json()
        assert body["reason"] == "Timeout"
        assert (
            body["message"]
            == "Timeout: request did not complete within requested timeout - context deadline exceeded"
        )
        assert client.get(path, params={"timeout": "soon"}).status_code == 400
