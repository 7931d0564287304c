"""HTTP semantics checked on the wire: watch streams, discovery, tables, subresources."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.api.conftest import ApiServer, Kubectl, create_namespace


@pytest.fixture
def http(api_server: ApiServer, namespace: str) -> Iterator[httpx.Client]:
    create_namespace(api_server, namespace)
    with api_server.client() as client:
        yield client


def _lines(response: httpx.Response, count: int) -> list[dict]:
    out = []
    for line in response.iter_lines():
        if line:
            out.append(json.loads(line))
            if len(out) == count:
                break
    return out


def test_watch_stream_resumes_and_ends_on_timeout(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    first = http.post(path, json={"metadata": {"name": "a"}}).json()
    http.patch(
        f"{path}/a",
        json={"data": {"x": "1"}},
        headers={"content-type": "application/merge-patch+json"},
    )
    rv = first["metadata"]["resourceVersion"]
    with http.stream(
        "GET", path, params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "1"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        events = [json.loads(line) for line in response.iter_lines() if line]  # ends by itself
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("MODIFIED", "a")]
    assert events[0]["object"]["data"] == {"x": "1"}


def test_watch_initial_events_and_bookmark(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json={"metadata": {"name": "b"}})
    params = {
        "watch": "1",
        "sendInitialEvents": "true",
        "resourceVersionMatch": "NotOlderThan",
        "resourceVersion": "",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "5",
    }
    params.pop("resourceVersion")
    response = http.get(path, params=params)
    assert response.status_code == 422  # NotOlderThan needs a resourceVersion
    params["resourceVersion"] = "0"
    with http.stream("GET", path, params=params) as response:
        added, bookmark = _lines(response, 2)
    assert added["type"] == "ADDED" and added["object"]["metadata"]["name"] == "b"
    assert bookmark["type"] == "BOOKMARK"
    assert bookmark["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_single_object_by_name(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json={"metadata": {"name": "one"}})
    rv = http.post(path, json={"metadata": {"name": "two"}}).json()["metadata"]["resourceVersion"]
    http.patch(
        f"{path}/two",
        json={"data": {"a": "b"}},
        headers={"content-type": "application/merge-patch+json"},
    )
    http.patch(
        f"{path}/one",
        json={"data": {"a": "b"}},
        headers={"content-type": "application/merge-patch+json"},
    )
    with http.stream(
        "GET", f"{path}/one", params={"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}
    ) as r:
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert [e["object"]["metadata"]["name"] for e in events] == ["one"]


def test_discovery_documents(http: httpx.Client) -> None:
    api = http.get("/api").json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    core = http.get("/api/v1").json()
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["configmaps"]["verbs"] == [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
    assert by_name["pods"]["shortNames"] == ["po"] and by_name["pods"]["categories"] == ["all"]
    assert by_name["pods/status"]["verbs"] == ["get", "patch", "update"]
    assert by_name["namespaces"]["namespaced"] is False
    groups = http.get("/apis").json()
    assert [g["name"] for g in groups["groups"]] == [
        "coordination.k8s.io",
        "events.k8s.io",
        "discovery.k8s.io",
    ]
    assert (
        http.get("/apis/coordination.k8s.io").json()["preferredVersion"]["groupVersion"]
        == "coordination.k8s.io/v1"
    )
    media = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    aggregated = http.get("/apis", headers={"accept": media + ",application/json"})
    assert aggregated.headers["content-type"] == media
    items = aggregated.json()["items"]
    lease = items[0]["versions"][0]["resources"][0]
    assert lease["resource"] == "leases" and lease["scope"] == "Namespaced"
    assert lease["responseKind"] == {
        "group": "coordination.k8s.io",
        "version": "v1",
        "kind": "Lease",
    }


def test_health_and_version(http: httpx.Client) -> None:
    verbose = http.get("/readyz", params={"verbose": ""})
    assert verbose.status_code == 200
    assert "[+]watch-cache-sync ok" in verbose.text and verbose.text.endswith(
        "readyz check passed\n"
    )
    assert http.get("/livez").text == "ok" and http.get("/healthz").text == "ok"
    assert http.get("/readyz/ping").text == "ok"
    version = http.get("/version").json()
    assert version["gitVersion"] == "v1.32.0-cp" and version["major"] == "1"


def test_create_options_and_server_fields(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    dry = http.post(path, params={"dryRun": "All"}, json={"metadata": {"name": "dry"}})
    assert dry.status_code == 201 and dry.json()["metadata"]["uid"]
    assert http.get(f"{path}/dry").status_code == 404
    generated = http.post(path, json={"metadata": {"generateName": "gen-"}}).json()
    name = generated["metadata"]["name"]
    assert name.startswith("gen-") and len(name) == len("gen-") + 5
    forged = http.post(
        path,
        json={
            "metadata": {
                "name": "forged",
                "uid": "mine",
                "resourceVersion": "77",
                "creationTimestamp": "2000-01-01T00:00:00Z",
            }
        },
    ).json()
    assert (
        forged["metadata"]["uid"] != "mine"
        and forged["metadata"]["creationTimestamp"] != "2000-01-01T00:00:00Z"
    )


def test_create_answers_the_object_as_stored(http: httpx.Client, namespace: str) -> None:
    """A create answers with the stored object: byte for byte what a GET of it returns
    (resourceVersion, uid, managedFields included), for a type stored as itself and
    for events.k8s.io Events, which are stored as core Events and converted back."""
    cases = [
        (f"/api/v1/namespaces/{namespace}/configmaps", {"metadata": {"name": "as-stored"}, "data": {"k": "v"}}),
        (
            f"/apis/events.k8s.io/v1/namespaces/{namespace}/events",
            {
                "metadata": {"name": "as-stored"},
                "eventTime": "2026-01-01T00:00:00.000000Z",
                "reportingController": "example.com/c",
                "reportingInstance": "i-1",
                "action": "Test",
                "reason": "Tested",
                "type": "Normal",
                "regarding": {"kind": "ConfigMap", "namespace": namespace, "name": "as-stored"},
            },
        ),
    ]  # fmt: skip
    for path, body in cases:
        created = http.post(path, json=body)
        assert created.status_code == 201, created.text
        fetched = http.get(f"{path}/as-stored")
        assert fetched.status_code == 200
        assert created.content == fetched.content
        meta = created.json()["metadata"]
        assert meta["resourceVersion"] and meta["uid"] and meta["managedFields"]


def test_immutable_configmap(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    http.post(path, json={"metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": True})
    response = http.patch(
        f"{path}/frozen",
        json={"data": {"a": "2"}},
        headers={"content-type": "application/merge-patch+json"},
    )
    assert response.status_code == 422
    assert (
        response.json()["message"]
        == 'ConfigMap "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )


def test_status_subresource_and_generation(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/services"
    svc = http.post(
        path,
        json={
            "metadata": {"name": "s"},
            "spec": {"ports": [{"port": 80}], "clusterIP": "10.0.0.9"},
        },
    ).json()
    assert svc["status"] == {"loadBalancer": {}}
    merge = {"content-type": "application/merge-patch+json"}
    # The main resource ignores status; the status subresource changes only status.
    main = http.patch(
        f"{path}/s",
        json={"status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}},
        headers=merge,
    ).json()
    assert main["status"] == {"loadBalancer": {}}
    status = http.patch(
        f"{path}/s/status",
        json={
            "status": {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}},
            "spec": {"type": "NodePort"},
        },
        headers=merge,
    ).json()
    assert status["status"]["loadBalancer"]["ingress"] == [{"ip": "1.2.3.4"}]
    assert status["spec"]["type"] == "ClusterIP"
    changed = http.patch(f"{path}/s", json={"spec": {"clusterIP": "10.0.0.10"}}, headers=merge)
    assert changed.status_code == 422
    assert (
        'spec.clusterIP: Invalid value: "10.0.0.10": field is immutable'
        in changed.json()["message"]
    )


def test_delete_collection(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    for name, tier in (("d1", "a"), ("d2", "a"), ("d3", "b")):
        http.post(path, json={"metadata": {"name": name, "labels": {"tier": tier}}})
    deleted = http.delete(path, params={"labelSelector": "tier=a"}).json()
    assert deleted["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in deleted["items"]) == ["d1", "d2"]
    assert [i["metadata"]["name"] for i in http.get(path).json()["items"]] == ["d3"]


def test_table_output(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "t1", "--from-literal=a=1", "--from-literal=b=2")
    lines = kubectl.ok("get", "cm", "t1").splitlines()
    assert lines[0].split() == ["NAME", "DATA", "AGE"]
    assert lines[1].split()[:2] == ["t1", "2"]
    kubectl.ok("create", "secret", "generic", "s1", "--from-literal=a=1")
    assert kubectl.ok("get", "secret", "s1", "--no-headers").split()[:3] == ["s1", "Opaque", "1"]
    labels = kubectl.ok("get", "cm", "t1", "--show-labels").splitlines()
    assert labels[0].split() == ["NAME", "DATA", "AGE", "LABELS"]


def test_metrics(kubectl: Kubectl) -> None:
    kubectl.ok("get", "cm")
    text = kubectl.ok("get", "--raw", "/metrics")
    assert "# TYPE apiserver_request_total counter" in text
    assert 'apiserver_request_total{verb="LIST",group="",version="v1",resource="configmaps"' in text
    assert "apiserver_request_duration_seconds_bucket{" in text


def test_field_validation(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    body = {"metadata": {"name": "fv", "labls": {"a": "b"}}, "dta": {"k": "v"}}
    strict = http.post(path, params={"fieldValidation": "Strict"}, json=body)
    assert strict.status_code == 400
    assert strict.json()["message"] == (  # in the order of the body, as the decoder meets them
        'ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: '
        'unknown field "metadata.labls", unknown field "dta"'
    )
    duplicate = http.post(
        path,
        params={"fieldValidation": "Strict"},
        content=b'{"metadata":{"name":"fv"},"data":{"a":"1","a":"2"}}',
        headers={"content-type": "application/json"},
    )
    assert duplicate.status_code == 400
    assert 'duplicate field "a"' in duplicate.json()["message"]
    warned = http.post(path, params={"fieldValidation": "Warn"}, json=body)
    assert warned.status_code == 201
    assert warned.headers.get_list("warning") == [
        '299 - "unknown field \\"metadata.labls\\""',
        '299 - "unknown field \\"dta\\""',
    ]
    stored = http.get(f"{path}/fv").json()
    assert "dta" not in stored and "labls" not in stored["metadata"]  # unknown fields are dropped
    ignored = http.post(
        path, params={"fieldValidation": "Ignore"}, json={**body, "metadata": {"name": "fv2"}}
    )
    assert ignored.status_code == 201 and "warning" not in ignored.headers
    assert http.post(path, params={"fieldValidation": "Loose"}, json=body).status_code == 400


def test_kubectl_strict_validation(kubectl: Kubectl, tmp_path) -> None:
    manifest = tmp_path / "typo.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndta:\n  k: v\n")
    err = kubectl.fails("create", "-f", str(manifest)).strip()
    assert err == (
        f'Error from server (BadRequest): error when creating "{manifest}": ConfigMap in version "v1" '
        'cannot be handled as a ConfigMap: strict decoding error: unknown field "dta"'
    )
    result = kubectl.run("create", "-f", str(manifest), "--validate=warn")
    assert result.returncode == 0 and 'Warning: unknown field "dta"' in result.stderr


def test_pod_graceful_deletion(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/pods"
    spec = {"containers": [{"name": "c", "image": "busybox"}]}
    http.post(path, json={"metadata": {"name": "unscheduled"}, "spec": spec})
    assert http.delete(f"{path}/unscheduled").status_code == 200
    assert http.get(f"{path}/unscheduled").status_code == 404  # not on a node: deleted at once
    http.post(path, json={"metadata": {"name": "running"}, "spec": {**spec, "nodeName": "n1"}})
    pending = http.delete(f"{path}/running").json()
    assert pending["metadata"]["deletionGracePeriodSeconds"] == 30
    assert http.get(f"{path}/running").json()["metadata"]["deletionTimestamp"]
    # A second delete without a shorter grace period changes nothing; grace 0 removes it.
    assert http.delete(f"{path}/running").json()["metadata"]["deletionGracePeriodSeconds"] == 30
    gone = http.request("DELETE", f"{path}/running", json={"gracePeriodSeconds": 0})
    assert gone.status_code == 200 and gone.json()["kind"] == "Pod"  # pods return the object
    assert http.get(f"{path}/running").status_code == 404


def test_watch_gauge_released_on_disconnect(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/secrets"
    gauge = 'apiserver_longrunning_requests{group="",version="v1",resource="secrets",verb="WATCH"}'

    def watching() -> int:
        for line in http.get("/metrics").text.splitlines():
            if line.startswith(gauge):
                return int(line.split()[-1])
        return 0

    with http.stream("GET", path, params={"watch": "1", "resourceVersion": "0"}) as response:
        assert response.status_code == 200
        assert watching() == 1
    for _ in range(500):  # the server notices the disconnect asynchronously
        if watching() == 0:
            return
    raise AssertionError("watch still registered after the client disconnected")


def test_table_watch(http: httpx.Client, namespace: str) -> None:
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.post(path, json={"metadata": {"name": "tw"}}).json()["metadata"]["resourceVersion"]
    http.patch(
        f"{path}/tw",
        json={"data": {"a": "b"}},
        headers={"content-type": "application/merge-patch+json"},
    )
    accept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}
    with http.stream("GET", path, params=params, headers={"accept": accept}) as response:
        (event,) = [json.loads(line) for line in response.iter_lines() if line]
    assert event["type"] == "MODIFIED"
    table = event["object"]
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Data", "Age"]
    (row,) = table["rows"]
    assert row["cells"][:2] == ["tw", 1]
    assert (
        row["object"]["kind"] == "PartialObjectMetadata"
        and row["object"]["metadata"]["name"] == "tw"
    )


def test_watch_fan_out(api_server: ApiServer, http: httpx.Client, namespace: str) -> None:
    """Many watchers over HTTP each get every event exactly once, in version order."""
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    rv = http.get(path).json()["metadata"]["resourceVersion"]
    writes, watchers = 50, 20
    seen: list[list[tuple[str, int]]] = [[] for _ in range(watchers)]
    errors: list[BaseException] = []

    def watch(i: int) -> None:
        try:
            params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "20"}
            with httpx.stream("GET", api_server.url + path, params=params, timeout=30) as response:
                for line in response.iter_lines():
                    if line:
                        event = json.loads(line)
                        meta = event["object"]["metadata"]
                        seen[i].append((meta["name"], int(meta["resourceVersion"])))
                        if len(seen[i]) == writes:
                            return
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=watch, args=(i,)) for i in range(watchers)]
    for thread in threads:
        thread.start()
    for i in range(writes):
        assert http.post(path, json={"metadata": {"name": f"f{i:03}"}}).status_code == 201
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    expected = [f"f{i:03}" for i in range(writes)]
    for events in seen:
        assert [name for name, _ in events] == expected
        versions = [v for _, v in events]
        assert versions == sorted(versions)


def test_namespace_finalize_flow(http: httpx.Client, namespace: str) -> None:
    """spec.finalizers hold a deleted namespace (phase Terminating) until
    namespaces/finalize empties them; the namespace controller removes only its own."""
    name = namespace + "-fin"
    created = http.post(
        "/api/v1/namespaces",
        json={"metadata": {"name": name}, "spec": {"finalizers": ["example.com/hold"]}},
    )
    assert created.status_code == 201
    assert created.json()["spec"]["finalizers"] == ["example.com/hold", "kubernetes"]
    marked = http.delete(f"/api/v1/namespaces/{name}").json()
    assert marked["status"]["phase"] == "Terminating" and marked["metadata"]["deletionTimestamp"]
    deadline = time.monotonic() + 10
    while http.get(f"/api/v1/namespaces/{name}").json()["spec"]["finalizers"] != [
        "example.com/hold"
    ]:
        assert time.monotonic() < deadline, "the namespace controller never finalized"
        time.sleep(0.02)
    # A status write on a terminating namespace does not delete it.
    merge = {"content-type": "application/merge-patch+json"}
    status = http.patch(
        f"/api/v1/namespaces/{name}/status", json={"status": {"conditions": []}}, headers=merge
    )
    assert status.status_code == 200
    assert http.get(f"/api/v1/namespaces/{name}").status_code == 200
    # finalize takes only spec.finalizers; emptying them lets the namespace go.
    body = http.get(f"/api/v1/namespaces/{name}").json()
    body["spec"]["finalizers"] = []
    body["metadata"]["labels"]["ignored"] = "yes"
    assert (
        http.patch(f"/api/v1/namespaces/{name}/finalize", json={}, headers=merge).status_code == 405
    )
    finalized = http.put(f"/api/v1/namespaces/{name}/finalize", json=body)
    assert finalized.status_code == 200
    assert "ignored" not in finalized.json()["metadata"]["labels"]
    assert http.get(f"/api/v1/namespaces/{name}").status_code == 404
    resources = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert resources["namespaces/finalize"]["verbs"] == ["update"]
