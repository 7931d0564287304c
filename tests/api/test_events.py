"""core/v1 and events.k8s.io/v1 Events on the wire: one object served by both groups.

Against a live cpd on both loops and on Redis, with raw HTTP, kubectl and the official
Python client: what is written through one group is read, listed, watched, updated
and deleted through the other, with one name, uid and resourceVersion.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.api.conftest import ApiServer, Kubectl, create_namespace

CORE = "/api/v1/namespaces/{ns}/events"
EVENTS = "/apis/events.k8s.io/v1/namespaces/{ns}/events"


@pytest.fixture(scope="module")
def api_server(api_server_all_stores: ApiServer) -> ApiServer:
    """This module runs on both stores (memory and Redis) as well as both loops."""
    return api_server_all_stores


@pytest.fixture
def http(api_server: ApiServer, namespace: str) -> Iterator[httpx.Client]:
    create_namespace(api_server, namespace)
    with api_server.client() as c:
        yield c


def _now(micro: bool) -> str:
    now = datetime.datetime.now(datetime.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def new_event(namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": name},
        "eventTime": _now(micro=True),
        "reportingController": "example.com/scaler",
        "reportingInstance": "scaler-1",
        "action": "Scale",
        "reason": "Scaled",
        "regarding": {"kind": "Deployment", "namespace": namespace, "name": "web"},
        "note": "scaled up to 3",
        "type": "Normal",
        **fields,
    }


def old_event(namespace: str, name: str, **fields: Any) -> dict[str, Any]:
    now = _now(micro=False)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "namespace": namespace, "name": "web-1"},
        "reason": "Pulled",
        "message": "image pulled",
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
        "type": "Normal",
        **fields,
    }


def _created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    return response.json()


def test_created_in_either_group_is_served_by_both(http: httpx.Client, namespace: str) -> None:
    core, events = CORE.format(ns=namespace), EVENTS.format(ns=namespace)
    made = _created(http.post(events, json=new_event(namespace, "a")))
    got = http.get(f"{core}/a").json()
    assert got["apiVersion"] == "v1" and got["metadata"] == made["metadata"]
    assert got["involvedObject"] == made["regarding"]
    assert (got["message"], got["reportingComponent"]) == ("scaled up to 3", "example.com/scaler")
    assert "note" not in got and "regarding" not in got

    old = _created(http.post(core, json=old_event(namespace, "b")))
    got = http.get(f"{events}/b").json()
    assert got["apiVersion"] == "events.k8s.io/v1" and got["metadata"] == old["metadata"]
    assert got["regarding"] == old["involvedObject"] and got["note"] == "image pulled"
    assert got["deprecatedSource"] == {"component": "kubelet", "host": "node-1"}
    assert got["deprecatedCount"] == 1

    core_list, events_list = http.get(core).json(), http.get(events).json()
    assert events_list["kind"] == "EventList" and events_list["apiVersion"] == "events.k8s.io/v1"
    assert [i["metadata"] for i in core_list["items"]] == [
        i["metadata"] for i in events_list["items"]
    ]
    assert [i["metadata"]["name"] for i in events_list["items"]] == ["a", "b"]
    # Field selectors in each group's own names.
    selected = http.get(events, params={"fieldSelector": "regarding.name=web-1"}).json()
    assert [i["metadata"]["name"] for i in selected["items"]] == ["b"]
    selected = http.get(core, params={"fieldSelector": "reportingComponent=example.com/scaler"})
    assert [i["metadata"]["name"] for i in selected.json()["items"]] == ["a"]
    wrong = http.get(events, params={"fieldSelector": "involvedObject.name=web-1"})
    assert wrong.status_code == 400, wrong.text


def _watch(http: httpx.Client, path: str, rv: str) -> list[dict[str, Any]]:
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}
    with http.stream("GET", path, params=params) as response:
        assert response.status_code == 200
        return [json.loads(line) for line in response.iter_lines() if line]


def test_watch_sees_writes_made_through_the_other_group(http: httpx.Client, namespace: str) -> None:
    core, events = CORE.format(ns=namespace), EVENTS.format(ns=namespace)
    start = http.get(events).json()["metadata"]["resourceVersion"]
    _created(http.post(core, json=old_event(namespace, "w1")))
    made = _created(http.post(events, json=new_event(namespace, "w2")))
    patch = {"metadata": {"labels": {"seen": "yes"}}}
    headers = {"content-type": "application/merge-patch+json"}
    assert http.patch(f"{core}/w2", json=patch, headers=headers).status_code == 200
    assert http.delete(f"{events}/w1").status_code == 200

    seen = _watch(http, events, start)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in seen] == [
        ("ADDED", "w1"),
        ("ADDED", "w2"),
        ("MODIFIED", "w2"),
        ("DELETED", "w1"),
    ]
    assert {e["object"]["apiVersion"] for e in seen} == {"events.k8s.io/v1"}
    assert seen[0]["object"]["note"] == "image pulled" and seen[1]["object"] == made
    assert seen[2]["object"]["metadata"]["labels"] == {"seen": "yes"}

    seen_core = _watch(http, core, start)
    assert [e["object"]["metadata"] for e in seen_core] == [e["object"]["metadata"] for e in seen]
    assert {e["object"]["apiVersion"] for e in seen_core} == {"v1"}
    assert seen_core[1]["object"]["message"] == "scaled up to 3"


def test_stale_version_from_one_group_conflicts_in_the_other(
    http: httpx.Client, namespace: str
) -> None:
    core, events = CORE.format(ns=namespace), EVENTS.format(ns=namespace)
    old = _created(http.post(core, json=old_event(namespace, "c")))
    body = http.get(f"{events}/c").json()
    assert body["metadata"]["resourceVersion"] == old["metadata"]["resourceVersion"]
    body["metadata"]["labels"] = {"via": "events"}
    updated = http.put(f"{events}/c", json=body)
    assert updated.status_code == 200, updated.text
    stale = http.put(f"{core}/c", json=old)
    assert stale.status_code == 409
    assert stale.json()["message"] == (
        'Operation cannot be fulfilled on events "c": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    again = http.put(f"{events}/c", json=body)
    assert again.status_code == 409
    assert again.json()["message"].startswith(
        'Operation cannot be fulfilled on events.events.k8s.io "c"'
    )
    assert http.get(f"{core}/c").json()["metadata"]["labels"] == {"via": "events"}


def test_delete_through_one_group_removes_from_both(http: httpx.Client, namespace: str) -> None:
    core, events = CORE.format(ns=namespace), EVENTS.format(ns=namespace)
    _created(http.post(events, json=new_event(namespace, "d")))
    assert http.delete(f"{core}/d").status_code == 200
    for path in (core, events):
        gone = http.get(f"{path}/d")
        assert gone.status_code == 404
    assert http.get(f"{events}/d").json()["message"] == 'events.events.k8s.io "d" not found'
    assert http.get(core).json()["items"] == http.get(events).json()["items"] == []


def test_events_k8s_io_validation_is_kubernetes_own(http: httpx.Client, namespace: str) -> None:
    events = EVENTS.format(ns=namespace)
    body = new_event(namespace, "v")
    del body["reportingController"]
    response = http.post(events, json=body)
    assert response.status_code == 422
    qualified = (
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
        "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
        "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
    )
    assert response.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": (
            'Event "v" is invalid: [reportingController: Required value, '
            'reportingController: Invalid value: "": name part must be non-empty, '
            f'reportingController: Invalid value: "": {qualified}]'
        ),
        "reason": "Invalid",
        "details": {
            "name": "v",
            "kind": "Event",
            "causes": [
                {"reason": "FieldValueRequired", "message": "Required value", "field": "reportingController"},
                {"reason": "FieldValueInvalid", "message": 'Invalid value: "": name part must be non-empty', "field": "reportingController"},
                {"reason": "FieldValueInvalid", "message": f'Invalid value: "": {qualified}', "field": "reportingController"},
            ],
        },
        "code": 422,
    }  # fmt: skip
    body = new_event(namespace, "w", type="Info")
    del body["eventTime"]
    response = http.post(events, json=body)
    assert response.json()["message"] == (
        'Event "w" is invalid: [eventTime: Required value, type: Invalid value: "": '
        "has invalid value: Info]"
    )
    made = _created(http.post(events, json=new_event(namespace, "x")))
    made["note"] = "changed"
    response = http.put(f"{events}/x", json=made)
    assert response.status_code == 422
    assert response.json()["message"] == (
        'Event "x" is invalid: message: Invalid value: "changed": field is immutable'
    )


def _rows(kubectl: Kubectl, resource: str) -> list[list[str]]:
    """`kubectl get` rows, each without its first column (LAST SEEN, an age that may
    tick between the two calls)."""
    lines = kubectl.ok("get", resource, "--no-headers").splitlines()
    return [line.split(None, 1)[1].split() for line in lines]


def test_kubectl_lists_the_same_events_in_both_groups(
    kubectl: Kubectl, api_server: ApiServer
) -> None:
    ns = kubectl.namespace
    with api_server.client() as http:
        _created(http.post(EVENTS.format(ns=ns), json=new_event(ns, "k1")))
        _created(http.post(CORE.format(ns=ns), json=old_event(ns, "k2")))
    header = kubectl.ok("get", "events.v1.events.k8s.io").splitlines()[0].split()
    assert header == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    core_rows = _rows(kubectl, "events")
    assert core_rows == _rows(kubectl, "events.v1.events.k8s.io")
    assert sorted(core_rows) == [
        ["Normal", "Pulled", "pod/web-1", "image", "pulled"],
        ["Normal", "Scaled", "deployment/web", "scaled", "up", "to", "3"],
    ]
    names = kubectl.ok("get", "events.events.k8s.io", "-o", "name").split()
    assert sorted(names) == ["event.events.k8s.io/k1", "event.events.k8s.io/k2"]
    assert sorted(kubectl.ok("get", "ev", "-o", "name").split()) == ["event/k1", "event/k2"]
    got = json.loads(kubectl.ok("get", "events.events.k8s.io", "k2", "-o", "json"))
    assert got["regarding"]["name"] == "web-1" and got["note"] == "image pulled"


def _client(server: ApiServer) -> client.ApiClient:
    config = client.Configuration()
    config.host = server.url
    return client.ApiClient(config)


def test_python_client_events_v1_and_core_v1_interoperate(
    api_server: ApiServer, namespace: str
) -> None:
    create_namespace(api_server, namespace)
    api = _client(api_server)
    core, events = client.CoreV1Api(api), client.EventsV1Api(api)
    now = datetime.datetime.now(datetime.UTC)
    regarding = client.V1ObjectReference(kind="Pod", name="p", namespace=namespace)
    made = events.create_namespaced_event(
        namespace,
        client.EventsV1Event(
            metadata=client.V1ObjectMeta(name="py1"),
            event_time=now,
            reporting_controller="example.com/py",
            reporting_instance="py-1",
            action="Test",
            reason="Tested",
            regarding=regarding,
            note="from events.k8s.io",
            type="Warning",
        ),
    )
    read = core.read_namespaced_event("py1", namespace)
    assert read.metadata.uid == made.metadata.uid
    assert read.metadata.resource_version == made.metadata.resource_version
    assert (read.involved_object.name, read.message) == ("p", "from events.k8s.io")
    assert read.reporting_component == "example.com/py" and read.event_time == made.event_time

    core.create_namespaced_event(
        namespace,
        client.CoreV1Event(
            metadata=client.V1ObjectMeta(name="py2"),
            involved_object=regarding,
            event_time=now,
            action="Test",
            reason="Tested",
            message="from core",
            type="Normal",
            reporting_component="example.com/py",
            reporting_instance="py-1",
        ),
    )
    read2 = events.read_namespaced_event("py2", namespace)
    assert (read2.regarding.name, read2.note, read2.type) == ("p", "from core", "Normal")
    assert read2.reporting_controller == "example.com/py"

    listed = events.list_namespaced_event(namespace, field_selector="regarding.name=p")
    assert sorted(e.metadata.name for e in listed.items) == ["py1", "py2"]
    warnings = core.list_namespaced_event(namespace, field_selector="type=Warning")
    assert [e.metadata.name for e in warnings.items] == ["py1"]

    core.patch_namespaced_event("py2", namespace, {"metadata": {"labels": {"a": "b"}}})
    with pytest.raises(ApiException) as conflict:
        events.replace_namespaced_event("py2", namespace, read2)
    assert conflict.value.status == 409

    events.delete_namespaced_event("py1", namespace)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_event("py1", namespace)
    assert missing.value.status == 404

    with pytest.raises(ApiException) as invalid:
        events.create_namespaced_event(
            namespace,
            client.EventsV1Event(
                metadata=client.V1ObjectMeta(name="py3"),
                event_time=now,
                reporting_instance="py-1",
                action="Test",
                reason="Tested",
                regarding=regarding,
                type="Normal",
            ),
        )
    assert invalid.value.status == 422
    assert json.loads(invalid.value.body)["message"].startswith(
        'Event "py3" is invalid: [reportingController: Required value, '
    )
