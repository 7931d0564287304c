"""OpenAPI v3 and v2 with Kubernetes' schemas: the real kubectl explains, creates and
applies with validation on, as it does against a cluster.  v2 is also served as gnostic's
protobuf Document; the tests read it back with a small reader of their own."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from typing import Any

import yaml

from cp.endpoints.openapi_v2_proto import encode_document, yaml_text
from tests.api.conftest import ApiServer, Kubectl

PROTOBUF_OLD = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"

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
    assert pod["properties"]["spec"] == {
        "description": "Specification of the desired behavior of the pod. More info: "
        "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md"
        "#spec-and-status",
        "allOf": [{"$ref": "#/components/schemas/io.k8s.api.core.v1.PodSpec"}],
        "default": {},
    }
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
    # Kubernetes 1.32: endpoints became optional in 1.33.
    assert definitions["io.k8s.api.discovery.v1.EndpointSlice"]["required"] == [
        "addressType",
        "endpoints",
    ]


# --- /openapi/v2 as protobuf ------------------------------------------------------------


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The (field number, value) pairs of one protobuf message: varints as ints, 64-bit
    values and length-delimited ones as their bytes."""
    pairs: list[tuple[int, int | bytes]] = []
    pos = 0

    def varint() -> int:
        nonlocal pos
        result = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result

    while pos < len(data):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            pairs.append((number, varint()))
        elif wire == 1:
            pairs.append((number, data[pos : pos + 8]))
            pos += 8
        elif wire == 2:
            size = varint()
            pairs.append((number, data[pos : pos + size]))
            pos += size
        else:
            raise AssertionError(f"unexpected wire type {wire}")
    assert pos == len(data)
    return pairs


def _message(data: bytes) -> dict[int, list[Any]]:
    fields: dict[int, list[Any]] = {}
    for number, value in _fields(data):
        fields.setdefault(number, []).append(value)
    return fields


def _pair(data: bytes) -> tuple[str, bytes]:
    """A Named* message: name = 1, value = 2."""
    fields = _message(data)
    return fields[1][0].decode(), fields.get(2, [b""])[0]


def _named(wrapper: bytes) -> Iterator[tuple[str, bytes]]:
    """The pairs of a message holding repeated Named* in field 1 (Definitions,
    Properties ...)."""
    for number, value in _fields(wrapper):
        assert number == 1 and isinstance(value, bytes)
        yield _pair(value)


def _any(data: bytes) -> Any:
    """An Any message: its YAML text (field 2), parsed."""
    fields = _message(data)
    assert set(fields) == {2}, fields
    return yaml.safe_load(fields[2][0].decode())


_SCHEMA_STRINGS = {1: "$ref", 2: "format", 3: "title", 4: "description", 13: "pattern"}


def _schema_json(data: bytes) -> dict[str, Any]:
    """A gnostic Schema back as the JSON schema it says (the keys the documents use)."""
    schema: dict[str, Any] = {}
    for number, value in _fields(data):
        assert isinstance(value, bytes), (number, value)
        if number in _SCHEMA_STRINGS:
            schema[_SCHEMA_STRINGS[number]] = value.decode()
        elif number == 5:  # default: an Any
            schema["default"] = _any(value)
        elif number == 19:
            schema.setdefault("required", []).append(value.decode())
        elif number == 21:  # AdditionalPropertiesItem: schema = 1 | boolean = 2
            [(which, inner)] = _fields(value)
            schema["additionalProperties"] = _schema_json(inner) if which == 1 else bool(inner)
        elif number == 22:  # TypeItem
            [kind] = [v.decode() for _, v in _fields(value)]
            schema["type"] = kind
        elif number == 23:  # ItemsItem
            [(_, item)] = _fields(value)
            schema["items"] = _schema_json(item)
        elif number == 25:  # Properties
            schema["properties"] = {name: _schema_json(v) for name, v in _named(value)}
        elif number == 31:  # vendor extension
            name, extension = _pair(value)
            schema[name] = _any(extension)
        else:
            raise AssertionError(f"unexpected Schema field {number}")
    return schema


def test_v2_protobuf_is_the_json_document(api_server: ApiServer) -> None:
    with api_server.client() as client:
        response = client.get("/openapi/v2", headers={"Accept": PROTOBUF_OLD})
        as_json = client.get("/openapi/v2", headers={"Accept": "application/json"}).json()
    assert response.status_code == 200
    assert response.headers["content-type"] == PROTOBUF

    document = _message(response.content)
    assert document[1] == [b"2.0"]
    info = _message(document[2][0])
    assert (info[1], info[2]) == ([b"Kubernetes"], [b"v1.32.0"])
    assert _fields(document[8][0]) == []  # paths: present, empty
    definitions = dict(_named(document[9][0]))
    assert list(definitions) == list(as_json["definitions"])

    configmap = _schema_json(definitions["io.k8s.api.core.v1.ConfigMap"])
    assert configmap["x-kubernetes-group-version-kind"] == [
        {"group": "", "kind": "ConfigMap", "version": "v1"}
    ]
    assert configmap["type"] == "object"
    assert set(configmap["properties"]) == {
        "apiVersion",
        "binaryData",
        "data",
        "immutable",
        "kind",
        "metadata",
    }
    assert configmap["properties"]["metadata"]["$ref"] == (
        "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    )
    assert configmap["properties"]["data"]["additionalProperties"] == {"type": "string"}
    spec = _schema_json(definitions["io.k8s.api.core.v1.PodSpec"])["properties"]
    assert spec["containers"]["x-kubernetes-patch-merge-key"] == "name"
    assert spec["volumes"]["x-kubernetes-patch-strategy"] == "merge,retainKeys"
    # Every definition says exactly what the JSON document says.
    for name, schema in definitions.items():
        assert _schema_json(schema) == as_json["definitions"][name], name


def test_v2_is_negotiated_as_kube_openapi_does(api_server: ApiServer) -> None:
    cases = {
        PROTOBUF_OLD: PROTOBUF,
        PROTOBUF: PROTOBUF,
        f"{PROTOBUF_OLD}, application/json": PROTOBUF,
        f"application/json;q=0.9, {PROTOBUF};q=0.5": "application/json",
        f"{PROTOBUF};q=0, application/*;q=0.1": "application/json",
        "*/*": "application/json",
        "": "application/json",
        "application/json": "application/json",
    }
    with api_server.client() as client:
        for accept, content_type in cases.items():
            response = client.get("/openapi/v2", headers={"Accept": accept})
            assert response.status_code == 200, accept
            assert response.headers["content-type"] == content_type, accept
        refused = client.get("/openapi/v2", headers={"Accept": "application/yaml"})
        assert refused.status_code == 406
        assert refused.json()["reason"] == "NotAcceptable"
        assert PROTOBUF in refused.json()["message"]


def test_v2_encoding_of_paths_parameters_and_oneofs() -> None:
    ref = {"$ref": "#/definitions/X"}
    data = encode_document(
        {
            "swagger": "2.0",
            "info": {"title": "t", "version": "1"},
            "paths": {
                "/api/v1/configmaps": {
                    "get": {
                        "operationId": "list",
                        "parameters": [
                            {"name": "limit", "in": "query", "type": "integer", "minimum": 0},
                            {"name": "body", "in": "body", "required": True, "schema": ref},
                            {"$ref": "#/parameters/pretty"},
                        ],
                        "responses": {
                            "200": {"description": "OK", "schema": ref},
                            "401": {"$ref": "#/responses/unauthorized"},
                        },
                        "x-kubernetes-action": "list",
                    }
                },
                "x-order": 1,
            },
            "definitions": {
                "X": {
                    "type": "object",
                    "properties": {},
                    "additionalProperties": False,
                    "maxLength": -1,
                    "maximum": 2.5,
                    "enum": ["yes", "", 1],
                },
            },
            "security": [{"BearerToken": [], "OAuth": ["read", "write"]}],
        }
    )
    document = _message(data)
    paths = _message(document[8][0])
    assert _pair(paths[1][0])[0] == "x-order" and _any(_pair(paths[1][0])[1]) == 1
    name, item = _pair(paths[2][0])
    assert name == "/api/v1/configmaps"
    get = _message(_message(item)[2][0])
    assert get[5] == [b"list"]
    query, body, reference = (_message(p) for p in get[8])
    non_body = _message(_message(query[1][0])[2][0])
    query_fields = _message(non_body[3][0])  # QueryParameterSubSchema
    assert query_fields[4] == [b"limit"] and query_fields[6] == [b"integer"]
    assert 13 not in query_fields  # minimum 0: a proto3 zero is left out
    body_fields = _message(_message(body[1][0])[1][0])  # BodyParameter
    assert body_fields[4] == [1] and _schema_json(body_fields[5][0]) == ref
    assert _message(reference[2][0])[1] == [b"#/parameters/pretty"]
    ok, unauthorized = (_pair(r) for r in _message(get[9][0])[1])
    response = _message(_message(ok[1])[1][0])
    assert response[1] == [b"OK"] and _schema_json(_message(response[2][0])[1][0]) == ref
    assert _message(_message(unauthorized[1])[2][0])[1] == [b"#/responses/unauthorized"]
    assert _any(_pair(get[13][0])[1]) == "list"

    [(_, x)] = _named(document[9][0])
    schema = _message(x)
    assert _fields(schema[21][0]) == [(2, 0)]  # additionalProperties false is kept
    assert schema[25] == [b""]  # properties {}: present, so the definition is a kind
    assert struct.unpack("<d", schema[7][0]) == (2.5,)
    assert schema[11] == [2**64 - 1]  # int64 -1, two's complement
    assert [_any(e) for e in schema[20]] == ["yes", "", 1]

    [requirement] = document[12]  # SecurityRequirement: NamedStringArray pairs
    assert [(name, _fields(scopes)) for name, scopes in _named(requirement)] == [
        ("BearerToken", []),
        ("OAuth", [(1, b"read"), (1, b"write")]),  # a StringArray message each
    ]


def test_yaml_text_reads_back_under_yaml_1_1() -> None:
    value = {
        "a": [1, 2.0, None, True, "on", "No", "y", "N", "~", "", "1.5", "a: b", "line\nbreak"],
        "nested": [{"group": "", "kind": "ConfigMap"}, [], {}],
        "x-\u00e9t\u00e9": "caf\u00e9\u2028",
    }
    assert yaml.safe_load(yaml_text(value)) == value
    assert yaml_text([{"group": "", "version": "v1", "kind": "Pod"}]) == (
        "- group: ''\n  version: v1\n  kind: Pod\n"
    )
