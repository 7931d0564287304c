"""OpenAPI v3 and v2 with Kubernetes' schemas: the real kubectl explains, creates and
applies with validation on, as it does against a cluster."""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import ApiServer, Kubectl

MANIFEST = """\
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers:
  - name: web
    image: nginx
    ports: [{containerPort: 80, name: http}]
    resources: {limits: {cpu: 100m, memory: 64Mi}}
    livenessProbe: {httpGet: {port: http, path: /}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web}
data: {mode: blue}
"""


def _refs(schema: Any) -> set[str]:
    if isinstance(schema, dict):
        found = {schema["$ref"]} if isinstance(schema.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_refs(v) for v in schema))
    return set()


def test_explain_lists_every_field_with_descriptions(kubectl: Kubectl) -> None:
    out = kubectl.ok("explain", "pod.spec.containers")
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nFIELD: containers <[]Container>")
    for field in (
        "imagePullPolicy\t<string>",
        "livenessProbe\t<Probe>",
        "volumeMounts\t<[]VolumeMount>",
        "securityContext\t<SecurityContext>",
        "terminationMessagePolicy\t<string>",
        "name\t<string> -required-",
    ):
        assert field in out, field
    assert "Image pull policy. One of Always, Never, IfNotPresent." in out
    assert "List of containers belonging to the pod." in out

    spec = kubectl.ok("explain", "service.spec")
    assert "ServiceSpec describes the attributes that a user creates on a service." in spec
    for field in ("clusterIP\t<string>", "ports\t<[]ServicePort>", "sessionAffinity\t<string>"):
        assert field in spec, field
    assert "FIELD: targetPort <IntOrString>" in kubectl.ok(
        "explain", "service.spec.ports.targetPort"
    )
    resources = kubectl.ok("explain", "pod.spec.containers.resources")
    assert "limits\t<map[string]Quantity>" in resources

    lease = kubectl.ok("explain", "leases.spec")
    assert lease.startswith("GROUP:      coordination.k8s.io\nKIND:       Lease\n")
    assert "holderIdentity\t<string>" in lease and "renewTime\t<string>" in lease


def test_explain_unserved_type(kubectl: Kubectl) -> None:
    err = kubectl.fails("explain", "deployment")
    assert 'the server doesn\'t have a resource type "deployment"' in err


def test_create_and_apply_with_validation(kubectl: Kubectl, tmp_path) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(MANIFEST)
    created = kubectl.ok("create", "-f", str(path))
    assert created.splitlines() == [
        "pod/web created",
        "service/web created",
        "configmap/web created",
    ]
    kubectl.ok("delete", "-f", str(path))
    assert kubectl.ok("apply", "-f", str(path)).splitlines() == [
        "pod/web created",
        "service/web created",
        "configmap/web created",
    ]
    path.write_text(MANIFEST.replace("mode: blue", "mode: green"))
    assert kubectl.ok("apply", "-f", str(path)).splitlines() == [
        "pod/web unchanged",
        "service/web unchanged",
        "configmap/web configured",
    ]


def test_unknown_field_is_refused_as_by_kubernetes(kubectl: Kubectl, tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bad}\nbogus: 1\n")
    err = kubectl.fails("create", "-f", str(path))
    assert err.strip() == (
        'Error from server (BadRequest): error when creating "'
        + str(path)
        + '": ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        'strict decoding error: unknown field "bogus"'
    )
    warned = kubectl.run("create", "-f", str(path), "--validate=warn")
    assert warned.returncode == 0 and 'unknown field "bogus"' in warned.stderr


def test_documents_are_self_contained(api_server: ApiServer) -> None:
    with api_server.client() as client:
        root = client.get("/openapi/v3").json()
        assert set(root["paths"]) >= {"api/v1", "apis/discovery.k8s.io/v1"}
        for url in (entry["serverRelativeURL"] for entry in root["paths"].values()):
            doc = client.get(url).json()
            schemas = doc["components"]["schemas"]
            for ref in _refs(doc):
                assert ref.startswith("#/components/schemas/"), ref
                assert ref.removeprefix("#/components/schemas/") in schemas, (url, ref)
        core = client.get("/openapi/v3/api/v1").json()["components"]["schemas"]
        v2 = client.get("/openapi/v2", headers={"Accept": "application/json"}).json()

    pod = core["io.k8s.api.core.v1.Pod"]
    assert pod["x-kubernetes-group-version-kind"] == [{"group": "", "version": "v1", "kind": "Pod"}]
    assert pod["properties"]["spec"] == {"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}
    spec = core["io.k8s.api.core.v1.PodSpec"]
    assert spec["required"] == ["containers"]
    assert spec["properties"]["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["properties"]["containers"]["x-kubernetes-patch-strategy"] == "merge"
    assert spec["properties"]["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    container = core["io.k8s.api.core.v1.Container"]["properties"]
    assert container["ports"]["x-kubernetes-patch-merge-key"] == "containerPort"
    assert container["name"]["description"].startswith("Name of the container")
    meta = core["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]["properties"]
    assert meta["generation"]["format"] == "int64"
    assert core["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["x-kubernetes-int-or-string"]
    # v3 ignores a $ref's siblings: a described reference is wrapped, as Kubernetes does.
    probe_port = core["io.k8s.api.core.v1.HTTPGetAction"]["properties"]["port"]
    assert probe_port["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString"}
    ]
    assert probe_port["description"].startswith("Name or number of the port")

    definitions = v2["definitions"]
    assert "#/components/" not in json.dumps(v2)
    for ref in _refs(v2):
        assert ref.removeprefix("#/definitions/") in definitions, ref
    target_port = definitions["io.k8s.api.core.v1.ServicePort"]["properties"]["targetPort"]
    assert target_port["$ref"] == "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"
    assert target_port["description"].startswith("Number or name of the port")
    assert definitions["io.k8s.apimachinery.pkg.api.resource.Quantity"]["type"] == "string"
    assert definitions["io.k8s.api.discovery.v1.EndpointSlice"]["required"] == ["addressType"]
