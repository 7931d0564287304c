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

from cp.endpoints.table import human_duration, table
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


TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def _ago(seconds: int, *, micro: bool = False) -> str:
    when = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")


def _printed_events(http: httpx.Client, ns: str) -> None:
    """Events whose every cell is known, with ages in whole minutes so they hold still
    while a test reads them."""
    _created(http.post(EVENTS.format(ns=ns), json=new_event(
        ns, "single", eventTime=_ago(40 * 60, micro=True), note="  scaled up to 3\n",
    )))  # fmt: skip
    _created(http.post(EVENTS.format(ns=ns), json=new_event(
        ns, "series", eventTime=_ago(50 * 60, micro=True), type="Warning",
        series={"count": 7, "lastObservedTime": _ago(30 * 60, micro=True)},
    )))  # fmt: skip
    _created(http.post(CORE.format(ns=ns), json=old_event(
        ns, "legacy", firstTimestamp=_ago(120 * 60), lastTimestamp=_ago(20 * 60), count=4,
        involvedObject={"kind": "Pod", "namespace": ns, "name": "web-1",
                        "fieldPath": "spec.containers{app}"},
    )))  # fmt: skip
    _created(http.post(CORE.format(ns=ns), json=old_event(
        ns, "unnamed", firstTimestamp=_ago(10 * 60), lastTimestamp=None, count=None,
        involvedObject={"kind": "Node", "namespace": ns}, source={"component": "kubelet"},
    )))  # fmt: skip


# printEvent's cells, in either group: LAST SEEN, TYPE, REASON, OBJECT, SUBOBJECT, SOURCE,
# MESSAGE, FIRST SEEN, COUNT, NAME.
PRINTED = {
    "legacy": ["20m", "Normal", "Pulled", "pod/web-1", "spec.containers{app}", "kubelet, node-1",
               "image pulled", "120m", 4, "legacy"],
    "series": ["30m", "Warning", "Scaled", "deployment/web", "", "example.com/scaler, scaler-1",
               "scaled up to 3", "50m", 7, "series"],
    "single": ["40m", "Normal", "Scaled", "deployment/web", "", "example.com/scaler, scaler-1",
               "scaled up to 3", "40m", 1, "single"],
    "unnamed": ["10m", "Normal", "Pulled", "node", "", "kubelet", "image pulled", "10m", 1,
                "unnamed"],
}  # fmt: skip


def test_tables_of_both_groups_are_printed_from_the_core_form(
    http: httpx.Client, namespace: str
) -> None:
    _printed_events(http, namespace)
    for path in (CORE, EVENTS):
        response = http.get(path.format(ns=namespace), headers={"Accept": TABLE})
        assert response.status_code == 200, response.text
        table = response.json()
        assert [
            (c["name"], c["type"], c["priority"]) for c in table["columnDefinitions"]
        ] == [
            ("Last Seen", "string", 0), ("Type", "string", 0), ("Reason", "string", 0),
            ("Object", "string", 0), ("Subobject", "string", 1), ("Source", "string", 1),
            ("Message", "string", 0), ("First Seen", "string", 1), ("Count", "string", 1),
            ("Name", "string", 1),
        ]  # fmt: skip
        assert [row["cells"] for row in table["rows"]] == list(PRINTED.values()), path


def _cells(obj: dict[str, Any]) -> list[Any]:
    return table("Event", [obj], {})["rows"][0]["cells"]


def test_event_cells_at_printevent_s_edges() -> None:
    zero = "0001-01-01T00:00:00Z"
    later = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=30)).isoformat()
    deprecated = {
        "apiVersion": "events.k8s.io/v1", "metadata": {"name": "d"}, "regarding": {"kind": "Pod"},
        "deprecatedSource": {"host": "node-1"}, "reportingController": "ctl",
        "deprecatedFirstTimestamp": _ago(5 * 60), "deprecatedLastTimestamp": zero,
        "deprecatedCount": 3, "note": "\x1c kept\u3000",
    }  # fmt: skip
    # Zero times are unset; a source's missing half comes from the reporting fields.
    assert _cells(deprecated) == [
        "5m", "", "", "pod", "", "ctl, node-1", "\x1c kept", "5m", 3, "d",
    ]  # fmt: skip
    # A series, even an empty one, decides LAST SEEN and COUNT.
    assert _cells({**deprecated, "series": {}})[0::8] == ["<unknown>", 0]
    # Nothing but an eventTime from a clock ahead of the server's.
    assert _cells({"apiVersion": "v1", "eventTime": later})[0::7] == ["<invalid>", "<invalid>"]
    assert _cells({"apiVersion": "v1", "metadata": {"creationTimestamp": _ago(60)}})[0] == (
        "<unknown>"
    )
    # HumanDuration forgives a clock up to (but not) two seconds ahead.
    assert [human_duration(s) for s in (-2.5, -1.5, -0.5, 119.9, 120)] == [
        "<invalid>", "0s", "0s", "119s", "2m",
    ]  # fmt: skip


def test_table_watch_of_events_k8s_io_prints_the_core_form(
    http: httpx.Client, namespace: str
) -> None:
    events = EVENTS.format(ns=namespace)
    rv = http.get(events).json()["metadata"]["resourceVersion"]
    _printed_events(http, namespace)
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "1"}
    with http.stream("GET", events, params=params, headers={"Accept": TABLE}) as response:
        assert response.status_code == 200
        frames = [json.loads(line) for line in response.iter_lines() if line]
    assert [f["type"] for f in frames] == ["ADDED"] * 4
    assert [row["cells"] for f in frames for row in f["object"]["rows"]] == [
        PRINTED[name] for name in ("single", "series", "legacy", "unnamed")
    ]


KUBECTL_GET = """\
LAST SEEN   TYPE      REASON   OBJECT           MESSAGE
20m         Normal    Pulled   pod/web-1        image pulled
30m         Warning   Scaled   deployment/web   scaled up to 3
40m         Normal    Scaled   deployment/web   scaled up to 3
10m         Normal    Pulled   node             image pulled
"""
KUBECTL_GET_WIDE = """\
LAST SEEN   TYPE      REASON   OBJECT           SUBOBJECT              SOURCE                         MESSAGE          FIRST SEEN   COUNT   NAME
20m         Normal    Pulled   pod/web-1        spec.containers{app}   kubelet, node-1                image pulled     120m         4       legacy
30m         Warning   Scaled   deployment/web                          example.com/scaler, scaler-1   scaled up to 3   50m          7       series
40m         Normal    Scaled   deployment/web                          example.com/scaler, scaler-1   scaled up to 3   40m          1       single
10m         Normal    Pulled   node                                    kubelet                        image pulled     10m          1       unnamed
"""


def test_kubectl_prints_events_of_both_groups_alike(
    kubectl: Kubectl, api_server: ApiServer
) -> None:
    with api_server.client() as http:
        _printed_events(http, kubectl.namespace)
    for resource in ("events", "events.v1.events.k8s.io"):
        assert kubectl.ok("get", resource) == KUBECTL_GET, resource
        assert kubectl.ok("get", resource, "-o", "wide") == KUBECTL_GET_WIDE, resource


def test_storage_version_hash_is_the_stored_type_s(http: httpx.Client) -> None:
    hashes = {}
    for path in ("/api/v1", "/apis/events.k8s.io/v1"):
        for resource in http.get(path).json()["resources"]:
            hashes[(path, resource["name"])] = resource.get("storageVersionHash")
    assert hashes[("/api/v1", "events")] == "r2yiGXH7wu8="
    assert hashes[("/apis/events.k8s.io/v1", "events")] == "r2yiGXH7wu8="
    assert hashes[("/api/v1", "configmaps")] == "qFsyl6wFWjQ="


def test_wrongly_typed_series_is_the_decoder_s_400(http: httpx.Client, namespace: str) -> None:
    core, events = CORE.format(ns=namespace), EVENTS.format(ns=namespace)
    prefix = 'Event in version "v1" cannot be handled as a Event: json: cannot unmarshal '
    for path, body in ((events, new_event(namespace, "s")), (core, old_event(namespace, "s"))):
        response = http.post(path, json={**body, "series": "x"})
        assert response.status_code == 400, response.text
        assert response.json()["message"] == prefix + (
            "string into Go struct field Event.series of type v1.EventSeries"
        )
        response = http.post(path, json={**body, "series": {"count": "2"}})
        assert response.status_code == 400, response.text
        assert response.json()["message"] == prefix + (
            "string into Go struct field EventSeries.series.count of type int32"
        )
    response = http.post(events, json=new_event(namespace, "s", deprecatedCount="2"))
    assert response.json()["message"] == prefix + (
        "string into Go struct field Event.deprecatedCount of type int32"
    )
    # A field of the other group is unknown here, whatever its value: dropped, not refused.
    made = _created(http.post(core, json=old_event(namespace, "s", deprecatedCount="2")))
    assert "deprecatedCount" not in made and made["count"] == 1
