"""Bad requests get the right 4xx Status, the server stays healthy, data stays unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import ApiServer, create_namespace


@pytest.fixture
def http(api_server: ApiServer, namespace: str) -> Iterator[httpx.Client]:
    create_namespace(api_server, namespace)
    with api_server.client() as client:
        created = client.post(
            f"/api/v1/namespaces/{namespace}/configmaps",
            json={"metadata": {"name": "keep"}, "data": {"k": "v"}},
        )
        assert created.status_code == 201
        before = client.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["items"]
        yield client
        assert client.get("/readyz").status_code == 200
        after = client.get(f"/api/v1/namespaces/{namespace}/configmaps").json()["items"]
        assert after == before, "a rejected request changed stored data"


def _status(response: httpx.Response, code: int, reason: str) -> dict:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason
    return body


def _post(
    http: httpx.Client, namespace: str, content: bytes, content_type: str = "application/json"
) -> httpx.Response:
    return http.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        content=content,
        headers={"content-type": content_type},
    )


def test_invalid_json(http: httpx.Client, namespace: str) -> None:
    _status(_post(http, namespace, b'{"metadata": '), 400, "BadRequest")
    _status(_post(http, namespace, b"[1, 2]"), 400, "BadRequest")


def test_invalid_yaml(http: httpx.Client, namespace: str) -> None:
    _status(_post(http, namespace, b"metadata: [unclosed", "application/yaml"), 400, "BadRequest")
    laughs = b"a: &a [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        laughs += b"%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n" % (
            (97 + i,) * 2 + (96 + i,) * 9
        )
    bomb = b"metadata:\n  name: bomb\ndata: {}\nbinaryData:\n  " + laughs.replace(b"\n", b"\n  ")
    body = _status(_post(http, namespace, bomb, "application/yaml"), 400, "BadRequest")
    assert "aliases" in body["message"]
    ok = _post(
        http, namespace, b"metadata:\n  name: from-yaml\ndata:\n  k: v\n", "application/yaml"
    )
    assert ok.status_code == 201 and ok.json()["data"] == {"k": "v"}
    assert http.delete(f"/api/v1/namespaces/{namespace}/configmaps/from-yaml").status_code == 200


def test_wrong_kind_or_api_version(http: httpx.Client, namespace: str) -> None:
    body = _status(
        _post(http, namespace, b'{"kind":"Secret","metadata":{"name":"s"}}'), 400, "BadRequest"
    )
    assert (
        body["message"]
        == "the kind in the data (Secret) does not match the expected kind (ConfigMap)"
    )
    body = _status(
        _post(
            http, namespace, b'{"kind":"ConfigMap","apiVersion":"apps/v1","metadata":{"name":"s"}}'
        ),
        400,
        "BadRequest",
    )
    assert "does not match the expected API version (v1)" in body["message"]


def test_body_too_large(http: httpx.Client, namespace: str) -> None:
    big = json.dumps({"metadata": {"name": "big"}, "data": {"k": "x" * (3 * 1024 * 1024)}}).encode()
    body = _status(_post(http, namespace, big), 413, "RequestEntityTooLarge")
    assert body["message"].startswith("Request entity too large")


def test_deep_nesting(http: httpx.Client, namespace: str) -> None:
    deep = b'{"metadata":{"name":"deep"},"data":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    _status(_post(http, namespace, deep), 400, "BadRequest")


def test_invalid_object(http: httpx.Client, namespace: str) -> None:
    body = _status(
        _post(http, namespace, b'{"metadata":{"name":"UPPER"},"data":{"bad key":"v"}}'),
        422,
        "Invalid",
    )
    fields = [c["field"] for c in body["details"]["causes"]]
    assert fields == ["metadata.name", "data[bad key]"]
    assert body["details"]["kind"] == "ConfigMap" and body["details"]["name"] == "UPPER"
    body = _status(_post(http, namespace, b'{"metadata":{}}'), 422, "Invalid")
    assert (
        body["message"]
        == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    )


def test_forged_continue_and_resource_version(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _status(http.get(path, params={"limit": "1", "continue": "forged"}), 400, "BadRequest")
    _status(
        http.get(
            path,
            params={
                "limit": "1",
                "continue": "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJ4In0.AAAA",
            },
        ),
        400,
        "BadRequest",
    )
    _status(http.get(path, params={"resourceVersion": "abc"}), 400, "BadRequest")
    _status(http.get(path, params={"resourceVersion": "-1"}), 400, "BadRequest")
    body = _status(http.get(path, params={"resourceVersionMatch": "Exact"}), 422, "Invalid")
    assert "resourceVersionMatch is forbidden unless resourceVersion is provided" in body["message"]


def test_garbage_selectors(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _status(http.get(path, params={"labelSelector": "a in ("}), 400, "BadRequest")
    _status(http.get(path, params={"labelSelector": "!!!"}), 400, "BadRequest")
    _status(http.get(path, params={"fieldSelector": "nonsense"}), 400, "BadRequest")
    body = _status(http.get(path, params={"fieldSelector": "spec.x=1"}), 400, "BadRequest")
    assert body["message"] == "field label not supported: spec.x"


def test_unknown_paths_and_methods(http: httpx.Client, namespace: str) -> None:
    _status(http.get("/api/v1/widgets"), 404, "NotFound")
    _status(http.get("/apis/nope.example.com/v1"), 404, "NotFound")
    _status(http.get(f"/api/v1/namespaces/{namespace}/configmaps/keep/status"), 404, "NotFound")
    body = _status(http.delete("/api/v1/namespaces"), 405, "MethodNotAllowed")
    assert body["message"] == 'deletecollection is not supported on resources of kind "namespaces"'


def test_unsupported_media_types(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/keep"
    _status(
        http.patch(path, content=b"{}", headers={"content-type": "text/plain"}),
        415,
        "UnsupportedMediaType",
    )
    body = _status(
        http.patch(path, content=b"{}", headers={"content-type": "application/apply-patch+yaml"}),
        415,
        "UnsupportedMediaType",
    )
    assert "server-side apply" in body["message"]
    _status(
        http.get(path, headers={"accept": "application/vnd.kubernetes.protobuf"}),
        406,
        "NotAcceptable",
    )


def test_bad_patches(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps/keep"
    json_patch = {"content-type": "application/json-patch+json"}
    _status(http.patch(path, content=b'{"not":"a list"}', headers=json_patch), 400, "BadRequest")
    _status(
        http.patch(path, content=b'[{"op":"explode","path":"/data"}]', headers=json_patch),
        400,
        "BadRequest",
    )
    ops = json.dumps([{"op": "test", "path": "/data/k", "value": "v"}] * 10_001).encode()
    body = _status(http.patch(path, content=ops, headers=json_patch), 413, "RequestEntityTooLarge")
    assert body["message"] == (
        "Request entity too large: "
        "The allowed maximum operations in a JSON patch is 10000, got 10001"
    )
    body = _status(
        http.patch(
            path, content=b'[{"op":"test","path":"/data/k","value":"other"}]', headers=json_patch
        ),
        422,
        "Invalid",
    )
    assert body["message"] == "the server rejected our request due to an error in our request"
    assert body["details"] == {}
    merge = {"content-type": "application/merge-patch+json"}
    _status(
        http.patch(path, content=b'{"metadata":{"name":"renamed"}}', headers=merge),
        400,
        "BadRequest",
    )


def test_watch_from_future_or_bad_version(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    _status(http.get(path, params={"watch": "1", "resourceVersion": "x1"}), 400, "BadRequest")
    body = _status(http.get(path, params={"resourceVersion": "999999999"}), 504, "Timeout")
    assert body["details"]["causes"][0]["reason"] == "ResourceVersionTooLarge"


_GARBAGE = ["s", 5, [1, "x", {}], {"a": 5, "containers": 5, "ports": "x"}, True]


def test_wrongly_typed_fields_never_break_the_server(api_server: ApiServer, namespace: str) -> None:
    """Every type, every top-level field, values of every wrong JSON type: 4xx, never 5xx,
    and the watch caches keep running (a cache that choked would fail /readyz)."""
    create_namespace(api_server, namespace)
    with api_server.client() as http:
        _fuzz(http, namespace)


def _fuzz(http: httpx.Client, namespace: str) -> None:
    paths = []
    for group_version in (
        "/api/v1",
        "/apis/coordination.k8s.io/v1",
        "/apis/events.k8s.io/v1",
        "/apis/discovery.k8s.io/v1",
    ):
        for resource in http.get(group_version).json()["resources"]:
            if "/" not in resource["name"]:
                scope = f"/namespaces/{namespace}" if resource["namespaced"] else ""
                paths.append(f"{group_version}{scope}/{resource['name']}")
    fields = [
        "spec",
        "status",
        "data",
        "type",
        "subsets",
        "involvedObject",
        "secrets",
        "endpoints",
        "ports",
        "source",
    ]
    count = 0
    for path in paths:
        target = f"{path}/fz-{count}"
        assert http.post(path, json={"metadata": {"name": f"fz-{count}"}}).status_code in (201, 422)
        for field in fields:
            for value in _GARBAGE:
                count += 1
                responses = [
                    http.post(
                        path,
                        json={
                            "metadata": {"name": f"g-{count}", "labels": {"a": value}},
                            field: value,
                        },
                    ),
                    http.put(
                        target, json={"metadata": {"name": target.rsplit("/", 1)[1]}, field: value}
                    ),
                    http.patch(
                        target,
                        json={field: value},
                        headers={"content-type": "application/merge-patch+json"},
                    ),
                    http.patch(
                        target,
                        json={field: value},
                        headers={"content-type": "application/strategic-merge-patch+json"},
                    ),
                ]
                for response in responses:
                    assert response.status_code < 500, (path, field, value, response.text)
    assert http.get("/readyz").status_code == 200
    for path in paths:
        table = http.get(path, headers={"accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
        assert table.status_code == 200, table.text
