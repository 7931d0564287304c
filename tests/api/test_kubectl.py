"""The real kubectl 1.32 against a live cpd, on both event loops.

Error texts are compared with what kubectl prints against a real kube-apiserver.
"""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.api.conftest import ApiServer, Kubectl


@pytest.fixture(scope="module")
def api_server(api_server_all_stores: ApiServer) -> ApiServer:
    """This module runs on both stores (memory and Redis) as well as both loops."""
    return api_server_all_stores


def test_version(kubectl: Kubectl) -> None:
    out = kubectl.ok("version", "-o", "json")
    server = json.loads(out)["serverVersion"]
    assert server["major"] == "1" and server["minor"] == "32"
    assert server["gitVersion"].startswith("v1.32.")


def test_api_resources(kubectl: Kubectl) -> None:
    out = kubectl.ok("api-resources", "--no-headers")
    rows = {tuple(line.split()) for line in out.splitlines()}
    assert ("configmaps", "cm", "v1", "true", "ConfigMap") in rows
    assert ("namespaces", "ns", "v1", "false", "Namespace") in rows
    assert ("pods", "po", "v1", "true", "Pod") in rows
    assert ("leases", "coordination.k8s.io/v1", "true", "Lease") in rows
    assert ("events", "ev", "events.k8s.io/v1", "true", "Event") in rows
    assert ("endpointslices", "discovery.k8s.io/v1", "true", "EndpointSlice") in rows
    namespaced = kubectl.ok("api-resources", "--namespaced=false", "-o", "name").split()
    assert "namespaces" in namespaced and "nodes" in namespaced and "configmaps" not in namespaced


def test_api_versions(kubectl: Kubectl) -> None:
    assert kubectl.ok("api-versions").split() == [
        "coordination.k8s.io/v1",
        "discovery.k8s.io/v1",
        "events.k8s.io/v1",
        "v1",
    ]


def test_create_get_delete_configmap(kubectl: Kubectl) -> None:
    assert (
        kubectl.ok("create", "configmap", "x", "--from-literal=a=b").strip()
        == "configmap/x created"
    )
    obj = json.loads(kubectl.ok("get", "cm", "x", "-o", "json"))
    assert obj["data"] == {"a": "b"}
    meta = obj["metadata"]
    assert meta["namespace"] == kubectl.namespace
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert int(meta["resourceVersion"]) > 0
    assert kubectl.ok("delete", "cm", "x").strip() == 'configmap "x" deleted'
    assert (
        kubectl.fails("get", "cm", "x").strip()
        == 'Error from server (NotFound): configmaps "x" not found'
    )


def test_error_messages_match_kubernetes(kubectl: Kubectl, tmp_path) -> None:
    assert kubectl.fails("get", "cm", "missing").strip() == (
        'Error from server (NotFound): configmaps "missing" not found'
    )
    assert kubectl.fails("delete", "cm", "missing").strip() == (
        'Error from server (NotFound): configmaps "missing" not found'
    )
    kubectl.ok("create", "configmap", "dup")
    assert kubectl.fails("create", "configmap", "dup").strip() == (
        'error: failed to create configmap: configmaps "dup" already exists'
    )
    manifest = tmp_path / "dup.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n")
    assert kubectl.fails("create", "-f", str(manifest)).strip() == (
        f'Error from server (AlreadyExists): error when creating "{manifest}": configmaps "dup" already exists'
    )
    rfc1123 = (
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
        "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
        "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    )
    assert kubectl.fails("create", "configmap", "Bad_Name").strip() == (
        'error: failed to create configmap: ConfigMap "Bad_Name" is invalid: '
        f'metadata.name: Invalid value: "Bad_Name": {rfc1123}'
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n")
    assert kubectl.fails("create", "-f", str(bad)).strip() == (
        f'The ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": {rfc1123}'
    )


def test_conflict_message(kubectl: Kubectl, tmp_path) -> None:
    kubectl.ok("create", "configmap", "c", "--from-literal=a=1")
    obj = json.loads(kubectl.ok("get", "cm", "c", "-o", "json"))
    kubectl.ok("label", "cm", "c", "bump=1")  # moves the resourceVersion on
    obj["data"]["a"] = "2"
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps(obj))
    err = kubectl.fails("replace", "-f", str(stale)).strip()
    assert err == (
        f'Error from server (Conflict): error when replacing "{stale}": Operation cannot be fulfilled on '
        'configmaps "c": the object has been modified; please apply your changes to the latest version and try again'
    )


def test_label_and_field_selectors(kubectl: Kubectl) -> None:
    for name, env in (("a1", "prod"), ("a2", "dev"), ("a3", "prod")):
        kubectl.ok("create", "configmap", name)
        kubectl.ok("label", "cm", name, f"env={env}")
    names = kubectl.ok("get", "cm", "-l", "env=prod", "-o", "name").split()
    assert names == ["configmap/a1", "configmap/a3"]
    names = kubectl.ok("get", "cm", "-l", "env notin (prod)", "-o", "name").split()
    assert names == ["configmap/a2"]
    names = kubectl.ok("get", "cm", "--field-selector", "metadata.name=a2", "-o", "name").split()
    assert names == ["configmap/a2"]
    names = kubectl.ok("get", "cm", "--field-selector", "metadata.name!=a2", "-o", "name").split()
    assert names == ["configmap/a1", "configmap/a3"]
    err = kubectl.fails("get", "cm", "--field-selector", "data.x=1")
    assert (
        err.strip()
        == 'Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match label selector "", field selector "data.x=1": field label not supported: data.x'
    )


def test_chunked_list(kubectl: Kubectl) -> None:
    for i in range(5):
        kubectl.ok("create", "configmap", f"p{i}")
    result = kubectl.run("get", "cm", "--chunk-size=2", "-o", "name", "-v=6")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [f"configmap/p{i}" for i in range(5)]
    requests = [
        line for line in result.stderr.splitlines() if "GET" in line and "/configmaps" in line
    ]
    assert len(requests) == 3, requests
    assert sum("continue=" in line for line in requests) == 2


def test_label_annotate(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "l")
    assert kubectl.ok("label", "cm", "l", "tier=web").strip() == "configmap/l labeled"
    assert kubectl.ok("annotate", "cm", "l", "note=hello").strip() == "configmap/l annotated"
    meta = json.loads(kubectl.ok("get", "cm", "l", "-o", "json"))["metadata"]
    assert meta["labels"] == {"tier": "web"}
    assert meta["annotations"] == {"note": "hello"}
    kubectl.ok("label", "cm", "l", "tier-")
    meta = json.loads(kubectl.ok("get", "cm", "l", "-o", "json"))["metadata"]
    assert "labels" not in meta or meta["labels"] == {}


def test_patch_three_types(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "pt", "--from-literal=a=1")
    assert (
        kubectl.ok("patch", "cm", "pt", "--type", "merge", "-p", '{"data":{"b":"2"}}').strip()
        == "configmap/pt patched"
    )
    kubectl.ok(
        "patch",
        "cm",
        "pt",
        "--type",
        "json",
        "-p",
        '[{"op":"replace","path":"/data/a","value":"9"}]',
    )
    kubectl.ok("patch", "cm", "pt", "--type", "strategic", "-p", '{"data":{"c":"3"}}')
    assert json.loads(kubectl.ok("get", "cm", "pt", "-o", "json"))["data"] == {
        "a": "9",
        "b": "2",
        "c": "3",
    }
    err = kubectl.fails(
        "patch", "cm", "pt", "--type", "json", "-p", '[{"op":"remove","path":"/data/zzz"}]'
    )
    assert err.strip() == (
        "The request is invalid: the server rejected our request due to an error in our request"
    )


def test_strategic_merge_uses_merge_keys(kubectl: Kubectl) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web"},
        "spec": {
            "containers": [{"name": "a", "image": "nginx:1", "env": [{"name": "X", "value": "1"}]}]
        },
    }
    kubectl.ok("create", "-f", "-", input=json.dumps(pod))
    patch = {"spec": {"containers": [{"name": "a", "image": "nginx:2"}]}}
    kubectl.ok("patch", "pod", "web", "-p", json.dumps(patch))
    containers = json.loads(kubectl.ok("get", "pod", "web", "-o", "json"))["spec"]["containers"]
    assert len(containers) == 1
    assert containers[0]["image"] == "nginx:2"
    assert containers[0]["env"] == [{"name": "X", "value": "1"}]  # merged by name, not replaced
    # Pods refuse other spec changes, as Kubernetes does.
    bad = {"spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]}]}}
    err = kubectl.fails("patch", "pod", "web", "-p", json.dumps(bad))
    assert err.startswith(
        'The Pod "web" is invalid: spec: Forbidden: pod updates may not change fields'
    )
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {"ports": [{"name": "http", "port": 80}]},
    }
    kubectl.ok("create", "-f", "-", input=json.dumps(svc))
    kubectl.ok("patch", "svc", "svc", "-p", '{"spec":{"ports":[{"name":"https","port":443}]}}')
    ports = json.loads(kubectl.ok("get", "svc", "svc", "-o", "json"))["spec"]["ports"]
    assert [p["port"] for p in ports] == [80, 443]


def test_replace_and_apply(kubectl: Kubectl, tmp_path) -> None:
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r1\ndata:\n  k: v\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r2\ndata:\n  k: v\n"
    )
    assert kubectl.ok("apply", "-f", str(manifest)).split("\n")[:2] == [
        "configmap/r1 created",
        "configmap/r2 created",
    ]
    assert kubectl.ok("apply", "-f", str(manifest)).split("\n")[:2] == [
        "configmap/r1 unchanged",
        "configmap/r2 unchanged",
    ]
    manifest.write_text(manifest.read_text().replace("k: v\n---", "k: changed\n---"))
    assert kubectl.ok("apply", "-f", str(manifest)).split("\n")[:2] == [
        "configmap/r1 configured",
        "configmap/r2 unchanged",
    ]
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: r1\ndata:\n  only: this\n"
    )
    assert kubectl.ok("replace", "-f", str(manifest)).strip() == "configmap/r1 replaced"
    assert json.loads(kubectl.ok("get", "cm", "r1", "-o", "json"))["data"] == {"only": "this"}


def test_server_side_apply_is_refused_clearly(kubectl: Kubectl) -> None:
    err = kubectl.fails(
        "apply",
        "--server-side",
        "-f",
        "-",
        input='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"ssa"}}',
    )
    assert "server-side apply" in err and "not supported" in err


def test_get_watch_sees_change(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "w0")
    proc = subprocess.Popen(
        kubectl.argv("get", "cm", "-w", "-o", "name", "--request-timeout=30s"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()  # the initial list: the watch is open after it
        assert first == "configmap/w0"
        kubectl.ok("create", "configmap", "w1")
        deadline = time.monotonic() + 20
        seen = []
        while time.monotonic() < deadline:
            line = proc.stdout.readline().strip()
            seen.append(line)
            if line == "configmap/w1":
                break
        assert "configmap/w1" in seen
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_finalizers_hold_deletion(kubectl: Kubectl) -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "f", "finalizers": ["example.com/hold"]},
    }
    kubectl.ok("create", "-f", "-", input=json.dumps(obj))
    kubectl.ok("delete", "cm", "f", "--wait=false")
    meta = json.loads(kubectl.ok("get", "cm", "f", "-o", "json"))["metadata"]
    assert meta["deletionTimestamp"].endswith("Z")
    kubectl.ok(
        "patch",
        "cm",
        "f",
        "--type",
        "json",
        "-p",
        '[{"op":"remove","path":"/metadata/finalizers"}]',
    )
    assert "NotFound" in kubectl.fails("get", "cm", "f")


def test_namespaces_and_generation(kubectl: Kubectl, api_server: ApiServer) -> None:
    name = kubectl.namespace + "-own"
    assert kubectl.ok("create", "namespace", name).strip() == f"namespace/{name} created"
    ns = json.loads(kubectl.ok("get", "ns", name, "-o", "json"))
    assert ns["status"]["phase"] == "Active"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == name
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l"},
        "spec": {"holderIdentity": "a"},
    }
    kubectl.ok("create", "-n", name, "-f", "-", input=json.dumps(lease))
    assert (
        json.loads(kubectl.ok("get", "-n", name, "lease", "l", "-o", "json"))["metadata"][
            "generation"
        ]
        == 1
    )
    kubectl.ok(
        "patch",
        "-n",
        name,
        "lease",
        "l",
        "--type",
        "merge",
        "-p",
        '{"spec":{"holderIdentity":"b"}}',
    )
    kubectl.ok("label", "-n", name, "lease", "l", "x=y")  # metadata only: generation stays
    assert (
        json.loads(kubectl.ok("get", "-n", name, "lease", "l", "-o", "json"))["metadata"][
            "generation"
        ]
        == 2
    )
    assert kubectl.ok("delete", "namespace", name).strip() == f'namespace "{name}" deleted'


@pytest.mark.parametrize("kind", ["secret", "serviceaccount"])
def test_typed_create_commands(kubectl: Kubectl, kind: str) -> None:
    if kind == "secret":
        kubectl.ok("create", "secret", "generic", "s", "--from-literal=password=hunter2")
        obj = json.loads(kubectl.ok("get", "secret", "s", "-o", "json"))
        assert obj["data"] == {"password": "aHVudGVyMg=="} and obj["type"] == "Opaque"
    else:
        kubectl.ok("create", "serviceaccount", "sa1")
        assert json.loads(kubectl.ok("get", "sa", "sa1", "-o", "json"))["metadata"]["name"] == "sa1"


def test_create_service(kubectl: Kubectl) -> None:
    kubectl.ok("create", "service", "clusterip", "web", "--tcp=80:8080")
    svc = json.loads(kubectl.ok("get", "svc", "web", "-o", "json"))
    assert svc["spec"]["ports"][0]["port"] == 80
    assert svc["spec"]["ports"][0]["targetPort"] == 8080
    assert svc["spec"]["type"] == "ClusterIP"


def test_managed_fields(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "mf", "--from-literal=a=b")
    kubectl.ok("label", "cm", "mf", "x=y")
    kubectl.ok("patch", "cm", "mf", "--type", "merge", "-p", '{"data":{"a":"c"}}')
    meta = json.loads(kubectl.ok("get", "cm", "mf", "-o", "json", "--show-managed-fields"))[
        "metadata"
    ]
    owners = {e["manager"]: e["fieldsV1"] for e in meta["managedFields"]}
    assert owners == {
        # The patch took data.a over; the creator still owns the map's existence (".").
        "kubectl-create": {"f:data": {".": {}}},
        "kubectl-label": {"f:metadata": {"f:labels": {".": {}, "f:x": {}}}},
        "kubectl-patch": {"f:data": {"f:a": {}}},
    }
    assert all(
        e["operation"] == "Update" and e["fieldsType"] == "FieldsV1" for e in meta["managedFields"]
    )
    plain = json.loads(kubectl.ok("get", "cm", "mf", "-o", "json"))["metadata"]
    assert "managedFields" not in plain  # kubectl hides them unless asked


def test_explain(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "configmap")
    assert out.startswith("KIND:       ConfigMap\nVERSION:    v1\n")
    assert "data\t<map[string]string>" in out and "immutable\t<boolean>" in out
    containers = kubectl.ok("explain", "pod.spec.containers")
    assert "image\t<string>" in containers and "env\t<[]EnvVar>" in containers


def test_describe(kubectl: Kubectl) -> None:
    kubectl.ok("create", "configmap", "desc", "--from-literal=key=value")
    kubectl.ok("label", "cm", "desc", "team=a")
    out = kubectl.ok("describe", "cm", "desc")
    lines = out.splitlines()
    assert lines[0].split() == ["Name:", "desc"]
    assert lines[1].split() == ["Namespace:", kubectl.namespace]
    assert lines[2].split() == ["Labels:", "team=a"]
    assert "key:\n----\nvalue" in out
    assert "Events:  <none>" in out


def test_apply_pod_merges_containers_by_name(kubectl: Kubectl, tmp_path) -> None:
    manifest = tmp_path / "pod.yaml"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "ap"},
        "spec": {
            "containers": [{"name": "a", "image": "nginx:1", "env": [{"name": "X", "value": "1"}]}]
        },
    }
    manifest.write_text(json.dumps(pod))
    assert kubectl.ok("apply", "-f", str(manifest)).strip() == "pod/ap created"
    pod["spec"]["containers"][0]["image"] = "nginx:2"
    manifest.write_text(json.dumps(pod))
    assert kubectl.ok("apply", "-f", str(manifest)).strip() == "pod/ap configured"
    container = json.loads(kubectl.ok("get", "pod", "ap", "-o", "json"))["spec"]["containers"][0]
    assert container["image"] == "nginx:2" and container["env"] == [{"name": "X", "value": "1"}]
    assert container["imagePullPolicy"] == "IfNotPresent"  # server defaults survive the patch
