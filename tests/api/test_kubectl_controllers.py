"""What the controllers do, as a kubectl user sees it, on both loops and on Redis."""

from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.api.conftest import ApiServer, Kubectl


@pytest.fixture(scope="module")
def api_server(api_server_all_stores: ApiServer) -> ApiServer:
    return api_server_all_stores


def _until(predicate, timeout: float = 20.0, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_kubectl_delete_namespace_with_100_objects(kubectl: Kubectl, namespace: str) -> None:
    items = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"cm-{i}", "namespace": namespace},
            "data": {"i": str(i)},
        }
        for i in range(90)
    ] + [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"s-{i}", "namespace": namespace},
            "stringData": {"k": "v"},
        }
        for i in range(10)
    ]
    kubectl.ok("apply", "-f", "-", input=yaml.safe_dump_all(items))
    assert len(kubectl.ok("get", "cm,secret", "-o", "name").split()) >= 100
    # kubectl waits for the namespace to be gone before it returns.
    out = kubectl.ok("delete", "namespace", namespace, "--timeout=60s")
    assert f'namespace "{namespace}" deleted' in out
    err = kubectl.fails("get", "namespace", namespace)
    assert f'namespaces "{namespace}" not found' in err
    # Nothing was left behind in the deleted namespace.
    leftover = kubectl.run("get", "cm,secret", "-n", namespace, "-o", "name")
    assert leftover.stdout.strip() == ""


def test_creating_in_a_missing_namespace_and_deleting_default_are_refused(
    kubectl: Kubectl,
) -> None:
    err = kubectl.fails("create", "configmap", "x", "-n", "no-such-namespace")
    assert 'namespaces "no-such-namespace" not found' in err
    err = kubectl.fails("delete", "namespace", "default")
    assert 'namespaces "default" is forbidden: this namespace may not be deleted' in err


def test_kubectl_sees_the_kubernetes_service_and_its_endpoints(
    kubectl: Kubectl, api_server: ApiServer
) -> None:
    svc = json.loads(kubectl.ok("get", "service", "kubernetes", "-n", "default", "-o", "json"))
    assert svc["spec"]["clusterIP"] == "10.0.0.1"
    assert svc["spec"]["ports"][0]["port"] == 443
    port = int(api_server.url.rsplit(":", 1)[1])
    ep = json.loads(kubectl.ok("get", "endpoints", "kubernetes", "-n", "default", "-o", "json"))
    assert ep["subsets"][0]["addresses"][0]["ip"] == "127.0.0.1"
    assert ep["subsets"][0]["ports"][0]["port"] == port
    table = kubectl.ok("get", "endpointslices", "-n", "default")
    assert "kubernetes" in table
    namespaces = kubectl.ok("get", "namespaces", "-o", "name").split()
    for name in ("default", "kube-system", "kube-public", "kube-node-lease"):
        assert f"namespace/{name}" in namespaces


def test_services_get_distinct_cluster_ips_and_node_ports(kubectl: Kubectl) -> None:
    for i in range(5):
        kubectl.ok("create", "service", "nodeport", f"np-{i}", "--tcp=80:8080")
    services = json.loads(kubectl.ok("get", "services", "-o", "json"))["items"]
    ips = [s["spec"]["clusterIP"] for s in services]
    ports = [s["spec"]["ports"][0]["nodePort"] for s in services]
    assert len(set(ips)) == len(ips) == 5
    assert len(set(ports)) == 5 and all(30000 <= p <= 32767 for p in ports)
    err = kubectl.fails(
        "create", "service", "clusterip", "taken", "--tcp=80:80", f"--clusterip={ips[0]}"
    )
    assert "provided IP is already allocated" in err
    # A deleted Service gives its address back.
    kubectl.ok("delete", "service", "np-0")
    kubectl.ok("create", "service", "clusterip", "reuse", "--tcp=80:80", f"--clusterip={ips[0]}")


def test_controller_metrics_are_on_the_metrics_endpoint(kubectl: Kubectl, namespace: str) -> None:
    kubectl.ok("create", "configmap", "m", "--from-literal=a=b")
    kubectl.ok("delete", "namespace", namespace, "--timeout=60s")
    text = kubectl.ok("get", "--raw", "/metrics")
    for controller in ("namespace", "bootstrap", "ipallocator-repair", "portallocator-repair"):
        assert f'cp_controller_queue_depth{{controller="controllers.{controller}"}}' in text
    assert (
        'cp_controller_reconcile_total{controller="controllers.namespace",result="success"}' in text
    )
    assert "cp_controller_event_to_reconcile_seconds_bucket" in text
    assert "apiserver_request_total" in text
