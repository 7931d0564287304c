"""The real kubectl with a `kind: List` manifest.

For a List kubectl validates each item client-side against the OpenAPI v2 models, which
it fetches only as gnostic protobuf: these pass only if /openapi/v2 serves that encoding
with the definitions and their group-version-kind extensions right.
"""

from __future__ import annotations

from pathlib import Path

from tests.api.conftest import Kubectl

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: first}}
  data: {{mode: {mode}}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {{name: second}}
  data: {{mode: blue}}
"""


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "list.yaml"
    path.write_text(text)
    return str(path)


def _configmaps(kubectl: Kubectl) -> list[str]:
    return kubectl.ok("get", "configmaps", "-o", "name").split()


def test_apply_list(kubectl: Kubectl, tmp_path: Path) -> None:
    path = _write(tmp_path, LIST.format(mode="blue"))
    assert kubectl.ok("apply", "-f", path).splitlines() == [
        "configmap/first created",
        "configmap/second created",
    ]
    assert kubectl.ok("apply", "-f", path).splitlines() == [
        "configmap/first unchanged",
        "configmap/second unchanged",
    ]
    _write(tmp_path, LIST.format(mode="green"))
    assert kubectl.ok("apply", "-f", path).splitlines() == [
        "configmap/first configured",
        "configmap/second unchanged",
    ]
    assert kubectl.ok("get", "configmap", "first", "-o", "jsonpath={.data.mode}") == "green"


def test_create_list(kubectl: Kubectl, tmp_path: Path) -> None:
    path = _write(tmp_path, LIST.format(mode="blue"))
    assert kubectl.ok("create", "-f", path).splitlines() == [
        "configmap/first created",
        "configmap/second created",
    ]
    assert sorted(_configmaps(kubectl)) == ["configmap/first", "configmap/second"]


def test_unknown_field_in_a_list_is_caught_by_kubectl(kubectl: Kubectl, tmp_path: Path) -> None:
    path = _write(tmp_path, LIST.format(mode="blue") + "  foo: bar\n")
    expected = (
        f'error: error validating "{path}": error validating data: ValidationError(ConfigMap): '
        'unknown field "foo" in io.k8s.api.core.v1.ConfigMap; '
        "if you choose to ignore these errors, turn validation off with --validate=false"
    )
    for verb in ("apply", "create"):
        assert kubectl.fails(verb, "-f", path).strip() == expected
    # Validation runs before anything is sent: the valid first item was not created.
    assert _configmaps(kubectl) == []


def test_list_items_are_checked_against_nested_schemas(kubectl: Kubectl, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Pod
  metadata: {name: web}
  spec:
    containers:
    - name: web
      image: nginx
      ports: [{containerPort: http}]
      bogus: 1
""",
    )
    err = kubectl.fails("apply", "-f", path)
    assert (
        'ValidationError(Pod.spec.containers[0]): unknown field "bogus" in '
        "io.k8s.api.core.v1.Container"
    ) in err
    assert (
        "ValidationError(Pod.spec.containers[0].ports[0].containerPort): invalid type for "
        'io.k8s.api.core.v1.ContainerPort.containerPort: got "string", expected "integer"'
    ) in err
