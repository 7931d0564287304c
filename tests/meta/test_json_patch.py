"""JSON patch (RFC 6902) as kube-apiserver applies it: the RFC's examples, kube's
departures from the RFC that kubectl users rely on, and the error classes the endpoint
turns into 400, 413 and 422."""

from __future__ import annotations

import copy
import json
import time
from typing import Any

import msgspec
import pytest

from cp.meta.patch import (
    PatchConflict,
    PatchError,
    PatchTestFailed,
    PatchTooLarge,
    apply_json_patch,
)


def malformed(target: Any, patch: Any) -> str:
    """The message of a patch refused as malformed (400), whatever the object."""
    with pytest.raises(PatchError) as info:
        apply_json_patch(target, patch)
    assert not isinstance(info.value, PatchConflict | PatchTooLarge)
    return str(info.value)


def conflict(target: Any, patch: Any) -> str:
    """The message of a well-formed patch that does not apply (422)."""
    with pytest.raises(PatchConflict) as info:
        apply_json_patch(target, patch)
    assert not isinstance(info.value, PatchTestFailed)
    return str(info.value)


# -- RFC 6902, appendix A ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc", "patch", "expected"),
    [
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux"}],
            {"baz": "qux", "foo": "bar"},
            id="A.1 add an object member",
        ),
        pytest.param(
            {"foo": ["bar", "baz"]},
            [{"op": "add", "path": "/foo/1", "value": "qux"}],
            {"foo": ["bar", "qux", "baz"]},
            id="A.2 add an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "remove", "path": "/baz"}],
            {"foo": "bar"},
            id="A.3 remove an object member",
        ),
        pytest.param(
            {"foo": ["bar", "qux", "baz"]},
            [{"op": "remove", "path": "/foo/1"}],
            {"foo": ["bar", "baz"]},
            id="A.4 remove an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": "bar"},
            [{"op": "replace", "path": "/baz", "value": "boo"}],
            {"baz": "boo", "foo": "bar"},
            id="A.5 replace a value",
        ),
        pytest.param(
            {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
            [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
            {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
            id="A.6 move a value",
        ),
        pytest.param(
            {"foo": ["all", "grass", "cows", "eat"]},
            [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
            {"foo": ["all", "cows", "eat", "grass"]},
            id="A.7 move an array element",
        ),
        pytest.param(
            {"baz": "qux", "foo": ["a", 2, "c"]},
            [
                {"op": "test", "path": "/baz", "value": "qux"},
                {"op": "test", "path": "/foo/1", "value": 2},
            ],
            {"baz": "qux", "foo": ["a", 2, "c"]},
            id="A.8 test a value: success",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
            {"foo": "bar", "child": {"grandchild": {}}},
            id="A.10 add a nested member object",
        ),
        pytest.param(
            {"foo": "bar"},
            [{"op": "add", "path": "/baz", "value": "qux", "xyz": 123}],
            {"foo": "bar", "baz": "qux"},
            id="A.11 ignore unrecognized elements",
        ),
        pytest.param(
            {"/": 9, "~1": 10},
            [{"op": "test", "path": "/~01", "value": 10}],
            {"/": 9, "~1": 10},
            id="A.14 ~ escape ordering",
        ),
        pytest.param(
            {"foo": ["bar"]},
            [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
            {"foo": ["bar", ["abc", "def"]]},
            id="A.16 add an array value",
        ),
    ],
)
def test_rfc_6902_examples(doc: Any, patch: Any, expected: Any) -> None:
    assert apply_json_patch(doc, patch) == expected


def test_rfc_a9_failed_test() -> None:
    with pytest.raises(PatchTestFailed, match=r"^testing value /baz failed: test failed$"):
        apply_json_patch({"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}])


def test_rfc_a12_add_to_a_missing_parent() -> None:
    message = conflict({"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}])
    assert message == 'add operation does not apply: doc is missing path: "/baz/bat": missing value'


def test_rfc_a15_strings_are_not_numbers() -> None:
    with pytest.raises(PatchTestFailed):
        apply_json_patch({"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}])


def test_test_compares_as_json_does() -> None:
    # true is not 1 (Python says it is), 1 is 1.0, and objects ignore member order.
    with pytest.raises(PatchTestFailed):
        apply_json_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])
    doc = {"a": 1, "o": {"x": [1, {"y": None}], "z": "s"}}
    patch = [
        {"op": "test", "path": "/a", "value": 1.0},
        {"op": "test", "path": "/o", "value": {"z": "s", "x": [1, {"y": None}]}},
        {"op": "test", "path": "", "value": doc},
    ]
    assert apply_json_patch(doc, patch) == doc


# -- pointers: escapes and the whole document --------------------------------------------


def test_escapes() -> None:
    doc = {"a/b": 1, "m~n": 2, "labels": {}}
    patch = [
        {"op": "replace", "path": "/a~1b", "value": 3},
        {"op": "remove", "path": "/m~0n"},
        {"op": "add", "path": "/labels/app.kubernetes.io~1name", "value": "web"},
        {"op": "copy", "from": "/a~1b", "path": "/~0~1"},
    ]
    assert apply_json_patch(doc, patch) == {
        "a/b": 3,
        "labels": {"app.kubernetes.io/name": "web"},
        "~/": 3,
    }


def test_empty_key_is_a_member() -> None:
    assert apply_json_patch({}, [{"op": "add", "path": "/", "value": 1}]) == {"": 1}


def test_whole_document() -> None:
    doc = {"a": 1}
    assert apply_json_patch(doc, [{"op": "replace", "path": "", "value": {"b": 2}}]) == {"b": 2}
    assert conflict(doc, [{"op": "remove", "path": ""}]).startswith("remove operation")
    # An API object must stay an object.
    assert "not a JSON object" in conflict(doc, [{"op": "replace", "path": "", "value": [1]}])


# -- arrays ------------------------------------------------------------------------------


def test_array_add_positions() -> None:
    doc = {"a": [1, 2]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/0", "value": 0}]) == {"a": [0, 1, 2]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/2", "value": 3}]) == {"a": [1, 2, 3]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3}]) == {"a": [1, 2, 3]}
    assert conflict(doc, [{"op": "add", "path": "/a/3", "value": 3}]).startswith("add operation")


@pytest.mark.parametrize(
    "op",
    [
        {"op": "remove", "path": "/a/2"},
        {"op": "replace", "path": "/a/2", "value": 0},
        {"op": "remove", "path": "/a/-"},
        {"op": "replace", "path": "/a/-", "value": 0},
        {"op": "remove", "path": "/a/01"},
        {"op": "remove", "path": "/a/x"},
        {"op": "remove", "path": "/a/1/x"},
        {"op": "add", "path": "/a/5/x", "value": 0},
        {"op": "copy", "from": "/a/2", "path": "/b"},
        {"op": "move", "from": "/a/-", "path": "/b"},
    ],
)
def test_array_index_out_of_range_or_not_an_index(op: dict[str, Any]) -> None:
    conflict({"a": [1, 2]}, [op])


def test_negative_index_counts_from_the_end() -> None:
    doc = {"spec": {"containers": [{"name": "a", "args": ["x", "y", "z"]}]}}
    args = "/spec/containers/-1/args"

    def patched(op: dict[str, Any]) -> list[Any]:
        return apply_json_patch(doc, [op])["spec"]["containers"][0]["args"]

    assert patched({"op": "remove", "path": f"{args}/-1"}) == ["x", "y"]
    assert patched({"op": "replace", "path": f"{args}/-3", "value": "w"}) == ["w", "y", "z"]
    assert patched({"op": "add", "path": f"{args}/-1", "value": "end"}) == ["x", "y", "z", "end"]
    assert patched({"op": "add", "path": f"{args}/-2", "value": "v"}) == ["x", "y", "v", "z"]
    assert patched({"op": "test", "path": f"{args}/-2", "value": "y"}) == ["x", "y", "z"]
    assert patched({"op": "copy", "from": f"{args}/-1", "path": f"{args}/0"}) == [
        "z",
        "x",
        "y",
        "z",
    ]
    assert patched({"op": "move", "from": f"{args}/0", "path": f"{args}/-1"}) == ["y", "z", "x"]
    assert patched({"op": "move", "from": f"{args}/-1", "path": f"{args}/0"}) == ["z", "x", "y"]
    conflict(doc, [{"op": "remove", "path": f"{args}/-4"}])
    conflict(doc, [{"op": "add", "path": f"{args}/-5", "value": 0}])


def test_negative_insert_positions() -> None:
    # An insertion counts from one past the end: -1 appends, -2 goes before the last.
    doc = {"a": ["x", "y"]}
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-2", "value": "v"}]) == {
        "a": ["x", "v", "y"]
    }
    assert apply_json_patch(doc, [{"op": "add", "path": "/a/-3", "value": "v"}]) == {
        "a": ["v", "x", "y"]
    }


def test_negative_token_of_an_object_is_a_key() -> None:
    assert apply_json_patch({"m": {"-1": 1}}, [{"op": "remove", "path": "/m/-1"}]) == {"m": {}}


# -- kube's reading of a missing member --------------------------------------------------


def test_replace_of_a_missing_member_adds_it() -> None:
    doc = {"metadata": {"name": "n"}}
    patch = [{"op": "replace", "path": "/metadata/annotations", "value": {"a": "b"}}]
    assert apply_json_patch(doc, patch) == {"metadata": {"name": "n", "annotations": {"a": "b"}}}
    conflict(doc, [{"op": "replace", "path": "/metadata/labels/x", "value": "y"}])


def test_test_of_a_missing_member_against_null() -> None:
    doc = {"metadata": {"annotations": {}}}
    absent = [{"op": "test", "path": "/metadata/annotations/lock", "value": None}]
    assert apply_json_patch(doc, absent) == doc
    with pytest.raises(PatchTestFailed):
        apply_json_patch(doc, [{"op": "test", "path": "/metadata/annotations/lock", "value": ""}])
    with pytest.raises(PatchTestFailed):
        apply_json_patch(doc, [{"op": "test", "path": "/metadata/labels/lock", "value": None}])


# -- copy and move -----------------------------------------------------------------------


def test_copy_is_deep_and_move_detaches() -> None:
    doc = {"a": {"b": [1]}}
    patch = [
        {"op": "copy", "from": "/a", "path": "/c"},
        {"op": "add", "path": "/c/b/-", "value": 2},
        {"op": "move", "from": "/a", "path": "/d"},
    ]
    assert apply_json_patch(doc, patch) == {"c": {"b": [1, 2]}, "d": {"b": [1]}}


def test_move_onto_itself_and_into_its_own_child() -> None:
    doc = {"a": {"b": 1}}
    assert apply_json_patch(doc, [{"op": "move", "from": "/a", "path": "/a"}]) == doc
    conflict(doc, [{"op": "move", "from": "/a", "path": "/a/b/c"}])


def test_copy_or_move_from_a_missing_path() -> None:
    message = conflict({"a": 1}, [{"op": "copy", "from": "/x", "path": "/y"}])
    assert message == 'copy operation does not apply: doc is missing from path: "/x": missing value'
    conflict({"a": 1}, [{"op": "move", "from": "/x/y", "path": "/y"}])


def test_copies_may_add_only_so_much() -> None:
    doc = {"a": "x" * 100}
    doubling = [{"op": "copy", "from": "", "path": f"/c{i}"} for i in range(64)]
    message = conflict(doc, doubling)
    assert message.startswith("Unable to complete the copy, the accumulated size increase")
    assert message.endswith(f"exceeding the limit {3 * 1024 * 1024}")
    two = [{"op": "copy", "from": "/a", "path": f"/{name}"} for name in "bc"]
    assert apply_json_patch(doc, two, max_copy_bytes=204)["c"] == "x" * 100
    with pytest.raises(PatchConflict, match="exceeding the limit 203"):
        apply_json_patch(doc, two, max_copy_bytes=203)


# -- the patch and the object stay as they were ------------------------------------------


def test_target_and_patch_are_left_alone() -> None:
    doc = {"a": {"b": [1, 2]}}
    patch = [
        {"op": "add", "path": "/n", "value": {}},
        {"op": "add", "path": "/n/k", "value": [1]},
        {"op": "add", "path": "/n/k/-", "value": 2},
        {"op": "remove", "path": "/a/b/0"},
    ]
    before_doc, before_patch = copy.deepcopy(doc), copy.deepcopy(patch)
    first = apply_json_patch(doc, patch)
    # The storage layer retries a patch on a conflicting write: the same patch again.
    second = apply_json_patch(doc, patch)
    assert first == second == {"a": {"b": [2]}, "n": {"k": [1, 2]}}
    assert doc == before_doc and patch == before_patch


def test_the_failed_patch_changes_nothing() -> None:
    doc = {"a": 1}
    patch = [{"op": "add", "path": "/b", "value": 2}, {"op": "remove", "path": "/c"}]
    conflict(doc, patch)
    assert doc == {"a": 1}


# -- malformed patches: 400, before anything is applied ----------------------------------


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"op": "add"}, "json: cannot unmarshal object into Go value of type jsonpatch.Patch"),
        ("[]", "json: cannot unmarshal string into Go value of type jsonpatch.Patch"),
        (None, "json: cannot unmarshal null into Go value of type jsonpatch.Patch"),
        ([1], "json: cannot unmarshal number into Go value of type jsonpatch.Operation"),
        ([[]], "json: cannot unmarshal array into Go value of type jsonpatch.Operation"),
        ([{"path": "/a"}], "operation missing op field: missing value"),
        ([{"op": 1, "path": "/a"}], "operation missing op field: missing value"),
        ([{"op": "explode", "path": "/a"}], "Unexpected kind: explode"),
        (
            [{"op": "remove"}],
            "remove operation failed to decode path: operation missing path field: missing value",
        ),
        (
            [{"op": "remove", "path": 1}],
            "remove operation failed to decode path: "
            "json: cannot unmarshal number into Go value of type string",
        ),
        (
            [{"op": "remove", "path": "a/b"}],
            'remove operation failed to decode path: "a/b" is not a JSON pointer: '
            "Location must start with /",
        ),
        (
            [{"op": "remove", "path": "/a~2"}],
            'remove operation failed to decode path: "/a~2" is not a JSON pointer: '
            "Found invalid escape ~2",
        ),
        ([{"op": "add", "path": "/a"}], "add operation, missing value field: missing value"),
        ([{"op": "test", "path": "/a"}], "test operation, missing value field: missing value"),
        (
            [{"op": "copy", "path": "/a"}],
            "copy operation failed to decode from: operation missing from field: missing value",
        ),
        (
            [{"op": "move", "path": "/a", "from": ["x"]}],
            "move operation failed to decode from: "
            "json: cannot unmarshal array into Go value of type string",
        ),
    ],
)
def test_malformed_patches(patch: Any, message: str) -> None:
    assert malformed({"a": 1}, patch) == message


def test_malformed_whatever_the_object() -> None:
    # The second operation is malformed; the first would not apply: still a 400.
    malformed({}, [{"op": "remove", "path": "/missing"}, {"op": "add", "path": "/x"}])


def test_too_many_operations() -> None:
    ops = [{"op": "test", "path": "/a", "value": 1}] * 11
    with pytest.raises(PatchTooLarge) as info:
        apply_json_patch({"a": 1}, ops, max_operations=10)
    assert str(info.value) == "The allowed maximum operations in a JSON patch is 10, got 11"
    assert apply_json_patch({"a": 1}, ops[:10], max_operations=10) == {"a": 1}


def test_missing_paths_name_the_path() -> None:
    doc = {"data": {"k": "v"}, "list": []}
    for op in (
        {"op": "remove", "path": "/data/zzz"},
        {"op": "replace", "path": "/list/0", "value": 1},
        {"op": "add", "path": "/nothing/here", "value": 1},
    ):
        assert f'doc is missing path: "{op["path"]}"' in conflict(doc, [op])


# -- what no request body can do: a 500 --------------------------------------------------


def test_deep_values_are_refused() -> None:
    # As deep as the request decoder takes: deeper than copy.deepcopy and the library's
    # comparison go.
    deep = msgspec.json.decode(b"[" * 900 + b"]" * 900)
    with pytest.raises(PatchError, match="nested too deeply") as info:
        apply_json_patch({}, [{"op": "add", "path": "/a", "value": deep}])
    assert not isinstance(info.value, PatchConflict)
    with pytest.raises(PatchError, match="nested too deeply"):
        apply_json_patch({"a": deep}, [{"op": "test", "path": "/a", "value": deep}])


def test_the_largest_patch_is_quick() -> None:
    ops = [{"op": "add", "path": f"/labels/k{i}", "value": "v"} for i in range(10_000)]
    body = json.dumps(ops).encode()
    assert len(body) < 3 * 1024 * 1024
    started = time.perf_counter()
    patched = apply_json_patch({"labels": {}}, msgspec.json.decode(body))
    assert len(patched["labels"]) == 10_000
    assert time.perf_counter() - started < 5
