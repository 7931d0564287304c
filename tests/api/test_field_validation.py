"""fieldValidation at every depth: unknown fields are found and named by path as
kube-apiserver's typed decoder names them, reported as Strict / Warn / Ignore ask, and
never stored."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cp.endpoints.field_validation import prune_unknown_fields
from cp.registry.builtin import BUILTIN
from cp.registry.resource import ResourceDef
from cp.registry.schemas.unknown_fields import field_tree
from cp.registry.schemas.unknown_fields import prune_unknown_fields as prune_by_schema
from tests.api.conftest import ApiServer, Kubectl, create_namespace

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web"},
    "spec": {"containers": [{"name": "web", "image": "nginx", "imagePullPolicyx": "Always"}]},
}
STRICT_MESSAGE = (
    'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
    'unknown field "spec.containers[0].imagePullPolicyx"'
)
MANIFEST = """\
apiVersion: v1
kind: Pod
metadata:
  name: typo
spec:
  containers:
  - name: web
    image: nginx
    imagePullPolicyx: Always
"""


@pytest.fixture
def http(api_server: ApiServer, namespace: str) -> Iterator[httpx.Client]:
    create_namespace(api_server, namespace)
    with api_server.client() as client:
        yield client


def _pods(namespace: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods"


def test_strict_refuses_a_nested_unknown_field(http: httpx.Client, namespace: str) -> None:
    response = http.post(_pods(namespace), params={"fieldValidation": "Strict"}, json=POD)
    assert response.status_code == 400
    body = response.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "BadRequest",
        400,
    )
    assert body["message"] == STRICT_MESSAGE
    assert http.get(f"{_pods(namespace)}/web").status_code == 404


def test_strict_names_every_path_in_body_order(http: httpx.Client, namespace: str) -> None:
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "many",
            "labels": {"any-key": "is-a-map-key"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "X", "name": "x", "uid": "u", "bogus": 1}
            ],
        },
        "spec": {
            "containers": [
                {"name": "a", "image": "nginx"},
                {
                    "name": "b",
                    "Image": "nginx",  # the decoder matches names case-sensitively
                    "ports": [{"containerPort": 80}, {"containerPort": 81, "hostPortx": 1}],
                    "resources": {"limits": {"example.com/gpu": "1"}, "limitz": {}},
                },
            ],
            "volumes": [{"name": "v", "emptyDir": {"medium": "", "sizeLimitx": "1Gi"}}],
            "foo": {"bar": 1},
        },
        "status": {"phasex": "Running"},
    }
    response = http.post(_pods(namespace), params={"fieldValidation": "Strict"}, json=pod)
    assert response.status_code == 400
    assert response.json()["message"] == (
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "metadata.ownerReferences[0].bogus", '
        'unknown field "spec.containers[1].Image", '
        'unknown field "spec.containers[1].ports[1].hostPortx", '
        'unknown field "spec.containers[1].resources.limitz", '
        'unknown field "spec.volumes[0].emptyDir.sizeLimitx", '
        'unknown field "spec.foo", '
        'unknown field "status.phasex"'
    )


def test_warn_creates_without_the_unknown_field(http: httpx.Client, namespace: str) -> None:
    pod = copy.deepcopy(POD)
    pod["spec"]["foo"] = "bar"
    response = http.post(_pods(namespace), params={"fieldValidation": "Warn"}, json=pod)
    assert response.status_code == 201
    assert response.headers.get_list("warning") == [
        '299 - "unknown field \\"spec.containers[0].imagePullPolicyx\\""',
        '299 - "unknown field \\"spec.foo\\""',
    ]
    stored = http.get(f"{_pods(namespace)}/web").json()
    assert "foo" not in stored["spec"]
    [container] = stored["spec"]["containers"]
    assert "imagePullPolicyx" not in container
    assert (container["name"], container["image"]) == ("web", "nginx")
    assert "imagePullPolicyx" not in response.text


def test_warn_is_the_default(http: httpx.Client, namespace: str) -> None:
    response = http.post(_pods(namespace), json=POD)
    assert response.status_code == 201
    assert response.headers.get_list("warning") == [
        '299 - "unknown field \\"spec.containers[0].imagePullPolicyx\\""'
    ]


def test_ignore_drops_silently(http: httpx.Client, namespace: str) -> None:
    response = http.post(_pods(namespace), params={"fieldValidation": "Ignore"}, json=POD)
    assert response.status_code == 201
    assert "warning" not in response.headers
    stored = http.get(f"{_pods(namespace)}/web").json()
    assert "imagePullPolicyx" not in stored["spec"]["containers"][0]


def test_map_keys_are_never_unknown_fields(http: httpx.Client, namespace: str) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "labels": {"spec": "x"}, "annotations": {"bogus": "y"}},
        "data": {"imagePullPolicyx": "1", "spec.foo": "2", "metadata": "3"},
        "binaryData": {"blob": "AAE="},
    }
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    response = http.post(path, params={"fieldValidation": "Strict"}, json=configmap)
    assert response.status_code == 201, response.text
    assert "warning" not in response.headers
    stored = http.get(f"{path}/cm").json()
    assert stored["data"] == configmap["data"]
    assert stored["metadata"]["annotations"] == {"bogus": "y"}

    pod = copy.deepcopy(POD)
    del pod["spec"]["containers"][0]["imagePullPolicyx"]
    pod["spec"]["nodeSelector"] = {"imagePullPolicyx": "a"}
    pod["spec"]["containers"][0]["resources"] = {"limits": {"example.com/foo": "1"}}
    response = http.post(_pods(namespace), params={"fieldValidation": "Strict"}, json=pod)
    assert response.status_code == 201, response.text
    assert "warning" not in response.headers


def test_field_names_are_quoted_as_go_quotes_them(http: httpx.Client, namespace: str) -> None:
    pod = copy.deepcopy(POD)
    del pod["spec"]["containers"][0]["imagePullPolicyx"]
    pod["spec"]['we"ird'] = 1
    pod["spec"]["ключ"] = 2
    response = http.post(_pods(namespace), params={"fieldValidation": "Strict"}, json=pod)
    assert response.status_code == 400
    assert response.json()["message"].endswith(
        'strict decoding error: unknown field "spec.we\\"ird", unknown field "spec.ключ"'
    )
    warned = http.post(_pods(namespace), params={"fieldValidation": "Warn"}, json=pod)
    assert warned.status_code == 201
    assert warned.headers.get_list("warning") == [
        '299 - "unknown field \\"spec.we\\\\\\"ird\\""',
        '299 - "unknown field \\"spec.ключ\\""',
    ]


def test_strategic_merge_patch_directives_are_not_fields(
    http: httpx.Client, namespace: str
) -> None:
    pod = copy.deepcopy(POD)
    del pod["spec"]["containers"][0]["imagePullPolicyx"]
    assert http.post(_pods(namespace), json=pod).status_code == 201
    patch = {
        "metadata": {"$deleteFromPrimitiveList/finalizers": ["x"]},
        "spec": {
            "$setElementOrder/containers": [{"name": "web"}],
            "containers": [{"name": "web", "image": "nginx:1.27"}],
        },
    }
    response = http.patch(
        f"{_pods(namespace)}/web",
        params={"fieldValidation": "Strict"},
        json=patch,
        headers={"content-type": "application/strategic-merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["spec"]["containers"][0]["image"] == "nginx:1.27"


def test_kubectl_create_prints_the_nested_path(kubectl: Kubectl, tmp_path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(MANIFEST)
    err = kubectl.fails("create", "-f", str(path)).strip()
    assert err == (
        f'Error from server (BadRequest): error when creating "{path}": '
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagePullPolicyx"'
    )
    assert "NotFound" in kubectl.fails("get", "pod", "typo")


def test_kubectl_apply_prints_the_nested_path(kubectl: Kubectl, tmp_path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(MANIFEST)
    err = kubectl.fails("apply", "-f", str(path)).strip()
    assert err == (
        f'Error from server (BadRequest): error when creating "{path}": '
        'Pod in version "v1" cannot be handled as a Pod: strict decoding error: '
        'unknown field "spec.containers[0].imagePullPolicyx"'
    )
    warned = kubectl.run("apply", "-f", str(path), "--validate=warn")
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.containers[0].imagePullPolicyx"' in warned.stderr
    # Only kubectl's last-applied-configuration annotation still holds it, as on a cluster.
    container = kubectl.ok("get", "pod", "typo", "-o", "jsonpath={.spec.containers[0]}")
    assert '"image":"nginx"' in container and "imagePullPolicyx" not in container


def test_kubectl_explain_describes_a_referencing_field(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "pod.spec")
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: spec <PodSpec>\n")
    assert "Specification of the desired behavior of the pod." in out
    resources = kubectl.ok("explain", "pod.spec.containers.resources")
    assert "Compute Resources required by this container. Cannot be updated." in resources


# The walker on its own: what it enters and what it leaves alone.

_DEFS = {(d.group, d.kind): d for d in BUILTIN}


def test_values_of_the_wrong_type_are_not_unknown_fields() -> None:
    tree = field_tree("", "v1", "Pod")
    assert tree is not None
    for spec in ("x", 1, None, [], {"containers": "x"}, {"containers": [1, None, "x"]}):
        obj: dict[str, Any] = {"spec": copy.deepcopy(spec)}
        assert prune_by_schema(obj, tree) == []
        assert obj == {"spec": spec}


def test_a_kind_without_schema_keeps_the_declared_check() -> None:
    assert field_tree("example.com", "v1", "Widget") is None
    custom = ResourceDef(
        "example.com", "v1", "widgets", "Widget", True, _DEFS["", "ConfigMap"].strategy,
        fields=("spec",),
    )  # fmt: skip
    obj = {"metadata": {"name": "w", "labls": {}}, "spec": {"anything": 1}, "bogus": 1}
    assert prune_unknown_fields(obj, custom) == [
        'unknown field "bogus"',
        'unknown field "metadata.labls"',
    ]
    assert obj == {"metadata": {"name": "w"}, "spec": {"anything": 1}}
    free = ResourceDef("example.com", "v1", "things", "Thing", True, custom.strategy)
    assert prune_unknown_fields({"anything": 1}, free) == []


def test_every_served_kind_has_a_tree() -> None:
    for d in BUILTIN:
        tree = field_tree(d.group, d.version, d.kind)
        assert tree is not None and {"apiVersion", "kind", "metadata"} <= set(tree), d.kind
