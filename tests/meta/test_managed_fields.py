"""managedFields of a create: the one-walk FieldsV1 tree equals the path-set one."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cp.meta.managed_fields import (
    field_paths,
    fields_v1,
    to_fields_v1,
    update_managed_fields,
)
from cp.registry.core import PodStrategy, ServiceStrategy
from cp.registry.strategy import META_MERGE_KEYS

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "uid": "server-owned",
        "labels": {"tier": "front", "app": "web"},
        "annotations": {},
        "finalizers": ["b.example/x", "a.example/y"],
        "ownerReferences": [{"uid": "u-1", "kind": "ReplicaSet", "name": "web-1"}],
    },
    "spec": {
        "containers": [
            {
                "name": "web",
                "image": "nginx",
                "ports": [{"containerPort": 80, "protocol": "TCP"}],
                "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
                "args": ["--x", "--y"],
                "resources": {"limits": {"cpu": "1"}, "requests": {}},
            },
            {"name": "sidecar", "image": "busybox"},
        ],
        "nodeSelector": {"disk": "ssd"},
        "tolerations": [{"key": "k", "operator": "Exists"}],
        "restartPolicy": "Always",
    },
    "status": {"phase": "Pending"},
}

SERVICE_WITH_SHARED_KEY = {
    "metadata": {"name": "svc"},
    # Two ports with one merge key: the FieldsV1 element is their union.
    "spec": {"ports": [{"port": 80, "name": "a"}, {"port": 80, "protocol": "UDP"}]},
}


@pytest.mark.parametrize(
    ("obj", "keys", "skip"),
    [
        (POD, PodStrategy.merge_keys, ()),
        (POD, PodStrategy.merge_keys, ("status",)),
        (SERVICE_WITH_SHARED_KEY, ServiceStrategy.merge_keys, ()),
        ({"metadata": {"name": "only-server-fields", "uid": "x"}}, META_MERGE_KEYS, ()),
        ({"data": {"z": "1", "a": None}, "binaryData": {}}, META_MERGE_KEYS, ()),
    ],
)
def test_one_walk_equals_sorted_paths_in_order(
    obj: dict[str, Any], keys: dict[str, str], skip: tuple[str, ...]
) -> None:
    expected = to_fields_v1(sorted(field_paths(obj, keys, skip=skip)))
    got = fields_v1(obj, keys, skip=skip)
    # Same content and the same key order (clients see the serialized order).
    assert json.dumps(got) == json.dumps(expected)


def test_create_records_one_update_entry_owning_every_sent_field() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"app": "x"}, "managedFields": [{"manager": "m"}]},
        "data": {"payload": "p"},
    }
    update_managed_fields(
        obj, None, manager="kubectl", api_version="v1", now="T", merge_keys=META_MERGE_KEYS
    )
    assert obj["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Update",
            "apiVersion": "v1",
            "time": "T",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {".": {}, "f:payload": {}},
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
            },
        }
    ]


def test_create_of_server_owned_fields_only_records_nothing() -> None:
    obj = {"metadata": {"name": "c", "managedFields": [{"manager": "m"}]}}
    update_managed_fields(
        obj, None, manager="kubectl", api_version="v1", now="T", merge_keys=META_MERGE_KEYS
    )
    assert "managedFields" not in obj["metadata"]
