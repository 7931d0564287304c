"""Explicit limits: in-flight requests (429 with Retry-After) and request timeouts (504)."""

from __future__ import annotations

import json
import socket
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


def _wait_for_request_total(client: httpx.Client, *labels: str) -> None:
    """Poll /metrics until a finished request with these labels is counted."""
    for _ in range(500):
        for line in client.get("/metrics").text.splitlines():
            if line.startswith("apiserver_request_total") and all(x in line for x in labels):
                return
    raise AssertionError(f"no request with {labels} finished")


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


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a content-length body, read within the socket's timeout."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection before answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def test_a_body_arriving_after_the_deadline_is_not_acted_on(
    limited_server: ApiServer, namespace: str
) -> None:
    """The client gets its 504 while still sending; the body it sends afterwards is
    not acted on (nothing is created), and the slot is free again at once."""
    create_namespace(limited_server, namespace)
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = json.dumps({"metadata": {"name": "late"}, "data": {"k": "v"}}).encode()
    host, port = limited_server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST {path}?timeout=300ms HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        code, headers, answer = _read_response(sock)
        assert code == 504
        assert headers["retry-after"] == "1"
        assert json.loads(answer)["reason"] == "Timeout"
        sock.sendall(body[10:])  # the rest of the body, after the answer
        with limited_server.client() as client:
            # The handler has the whole body and has finished (the connection still open).
            _wait_for_request_total(client, 'verb="POST"', 'resource="configmaps"', 'code="504"')
    with limited_server.client() as client:
        # The slot was released with the 504 (a write succeeds with the limit at 1), and
        # the late body created nothing.
        assert client.post(path, json={"metadata": {"name": "on-time"}}).status_code == 201
        names = [i["metadata"]["name"] for i in client.get(path).json()["items"]]
        assert names == ["on-time"]
