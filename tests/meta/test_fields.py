"""Field selectors must parse, escape, match and fail exactly like kube-apiserver's."""

from __future__ import annotations

import pytest

from cp.meta import labels
from cp.meta.fields import (
    CLUSTER_SCOPED_FIELDS,
    NAMESPACE_SCOPED_FIELDS,
    FieldRequirement,
    FieldSelector,
    SelectorError,
    escape_value,
    object_meta_fields,
    parse_field_selector,
    unescape_value,
)


def terms(text: str) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in parse_field_selector(text).requirements]


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metadata.name=foo", [("metadata.name", "=", "foo")]),
        ("metadata.name==foo", [("metadata.name", "=", "foo")]),
        ("metadata.name!=foo", [("metadata.name", "!=", "foo")]),
        ("status.phase=", [("status.phase", "=", "")]),
        ("a!=\\=b", [("a", "!=", "=b")]),
        ("a=!b", [("a", "=", "!b")]),
        ("!=x", [("", "!=", "x")]),
        # no trimming: spaces belong to the field and the value
        ("a = b", [("a ", "=", " b")]),
        # terms are sorted by their raw text: "a!=3" < "a=2" < "b=1"
        ("b=1,a=2,a!=3", [("a", "!=", "3"), ("a", "=", "2"), ("b", "=", "1")]),
    ],
)
def test_parse_terms(text: str, expected: list) -> None:
    assert terms(text) == expected


def test_requirements_is_a_list_of_triples() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Running")
    assert sel.requirements == [
        FieldRequirement("spec.nodeName", "=", "n1"),
        FieldRequirement("status.phase", "!=", "Running"),
    ]
    field, op, value = sel.requirements[1]
    assert (field, op, value) == ("status.phase", "!=", "Running")


@pytest.mark.parametrize("text", ["", ",", ",,,", "=", "=,="])
def test_empty_selectors(text: str) -> None:
    sel = parse_field_selector(text)
    assert sel.empty
    assert str(sel) == ""
    assert sel.matches({}) and sel.matches({"metadata.name": "x"})


def test_empty_terms_are_skipped() -> None:
    assert terms(",a=b,,") == [("a", "=", "b")]
    # "=" alone vanishes, but a term with only one empty side stays
    assert terms("=,a=b") == [("a", "=", "b")]
    assert terms("=x") == [("", "=", "x")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "invalid selector: 'abc'; can't understand 'abc'"),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
        ("a=b, ", "invalid selector: 'a=b, '; can't understand ' '"),
        ("a!b", "invalid selector: 'a!b'; can't understand 'a!b'"),
        # the comma escape is not a separator, and the lone term has no operator
        ("a\\,b", "invalid selector: 'a\\,b'; can't understand 'a\\,b'"),
        # a second '=' in the value must be escaped; Go prints the rune as a number
        ("a==b==c", "invalid field selector: unescaped character in value: 61"),
        ("a=b=c", "invalid field selector: unescaped character in value: 61"),
        ("a=b\\x", "invalid field selector: invalid escape sequence: \\x"),
        ("a=b\\", "invalid field selector: invalid escape sequence: \\"),
        ("a=\\n", "invalid field selector: invalid escape sequence: \\n"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_field_selector(text)
    assert str(exc.value) == message


def test_errors_follow_sorted_term_order() -> None:
    # both terms are bad; "a..." sorts first, so its error is the one reported
    with pytest.raises(SelectorError, match="can't understand 'abc'"):
        parse_field_selector("zzz,abc")


def test_one_error_class_for_both_selector_kinds() -> None:
    assert SelectorError is labels.SelectorError
    with pytest.raises(ValueError):
        parse_field_selector("nonsense")


# --------------------------------------------------------------------------- escaping


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("a=x\\,y", "x,y"),
        ("a=x\\=y", "x=y"),
        ("a=x\\\\y", "x\\y"),
        ("a=\\\\\\,\\=", "\\,="),
        ("a!=\\,", ","),
    ],
)
def test_escaped_values(text: str, value: str) -> None:
    (req,) = parse_field_selector(text).requirements
    assert req.value == value
    assert str(parse_field_selector(text)) == text


def test_escaped_comma_does_not_split_terms() -> None:
    assert terms("b=1\\,c\\=2,a=3") == [("a", "=", "3"), ("b", "=", "1,c=2")]
    # the escaped comma keeps "c=2" inside the value, where its '=' is bare
    with pytest.raises(SelectorError, match="unescaped character in value: 61$"):
        parse_field_selector("b=1\\,c=2")


@pytest.mark.parametrize(
    "literal",
    ["", "plain", "a,b", "a=b", "back\\slash", "\\", ",,==\\\\", "trailing\\", "ünï,cödé"],
)
def test_escape_unescape_round_trip(literal: str) -> None:
    escaped = escape_value(literal)
    assert unescape_value(escaped) == literal
    sel = parse_field_selector("f=" + escaped)
    assert sel.requirements == [FieldRequirement("f", "=", literal)]


def test_escape_value_output() -> None:
    assert escape_value("a\\b,c=d") == "a\\\\b\\,c\\=d"
    assert escape_value("nothing-special") == "nothing-special"


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "fields", "selected"),
    [
        ("metadata.name=foo", {"metadata.name": "foo"}, True),
        ("metadata.name=foo", {"metadata.name": "bar"}, False),
        ("metadata.name==foo", {"metadata.name": "foo"}, True),
        ("metadata.name!=foo", {"metadata.name": "bar"}, True),
        ("metadata.name!=foo", {"metadata.name": "foo"}, False),
        # an absent field reads as the empty string
        ("spec.nodeName=", {}, True),
        ("spec.nodeName!=", {}, False),
        ("spec.nodeName!=n1", {}, True),
        ("spec.nodeName=n1", {}, False),
        ("a=1,b=2", {"a": "1", "b": "2"}, True),
        ("a=1,b=2", {"a": "1", "b": "3"}, False),
        ("a=x\\,y", {"a": "x,y"}, True),
        ("a = b", {"a": "b"}, False),
        ("a = b", {"a ": " b"}, True),
    ],
)
def test_matches(text: str, fields: dict[str, str], selected: bool) -> None:
    assert parse_field_selector(text).matches(fields) is selected


def test_requires_exact_match() -> None:
    sel = parse_field_selector("metadata.name=web-0,metadata.namespace!=kube-system")
    assert sel.requires_exact_match("metadata.name") == "web-0"
    assert sel.requires_exact_match("metadata.namespace") is None
    assert sel.requires_exact_match("spec.nodeName") is None


# ------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("b=1,a=2", "a=2,b=1"),
        ("a==x", "a=x"),
        ("x!=1,,y==2", "x!=1,y=2"),
        ("a=p\\,q\\=r\\\\s", "a=p\\,q\\=r\\\\s"),
    ],
)
def test_string_form(text: str, canonical: str) -> None:
    sel = parse_field_selector(text)
    assert str(sel) == canonical
    assert parse_field_selector(canonical) == sel
    assert repr(sel) == f"FieldSelector({canonical!r})"


def test_constructed_selector_keeps_given_order() -> None:
    sel = FieldSelector([FieldRequirement("b", "=", "1"), FieldRequirement("a", "!=", "x,y")])
    assert str(sel) == "b=1,a!=x\\,y"
    assert hash(sel) == hash(FieldSelector(sel.requirements))


# ----------------------------------------------------------------- supported fields


def test_check_supported_accepts_known_fields() -> None:
    sel = parse_field_selector("metadata.name=a,metadata.namespace=b")
    sel.check_supported(NAMESPACE_SCOPED_FIELDS, "configmaps")
    parse_field_selector("").check_supported(CLUSTER_SCOPED_FIELDS, "nodes")


def test_check_supported_rejects_unknown_field() -> None:
    sel = parse_field_selector("metadata.name=a,spec.color=red")
    with pytest.raises(SelectorError) as exc:
        sel.check_supported(NAMESPACE_SCOPED_FIELDS, "configmaps")
    assert str(exc.value) == "field label not supported: spec.color"


def test_check_supported_reports_first_in_selector_order() -> None:
    sel = parse_field_selector("z.field=1,b.field=2")
    with pytest.raises(SelectorError, match="^field label not supported: b.field$"):
        sel.check_supported({"metadata.name"}, "things")


def test_cluster_scoped_resources_do_not_support_namespace() -> None:
    sel = parse_field_selector("metadata.namespace=default")
    with pytest.raises(SelectorError, match="^field label not supported: metadata.namespace$"):
        sel.check_supported(CLUSTER_SCOPED_FIELDS, "nodes")


def test_empty_field_name_is_unsupported() -> None:
    with pytest.raises(SelectorError) as exc:
        parse_field_selector("=x").check_supported(NAMESPACE_SCOPED_FIELDS, "pods")
    assert str(exc.value) == "field label not supported: "


def test_check_supported_uses_exact_names() -> None:
    with pytest.raises(SelectorError, match="not supported: metadata.name $"):
        parse_field_selector("metadata.name =x").check_supported(NAMESPACE_SCOPED_FIELDS, "pods")


# ------------------------------------------------------------------ object field sets


def test_object_meta_fields_namespaced() -> None:
    obj = {"metadata": {"name": "web", "namespace": "shop", "labels": {"a": "b"}}}
    assert object_meta_fields(obj) == {"metadata.name": "web", "metadata.namespace": "shop"}
    assert object_meta_fields(obj, namespaced=True) == object_meta_fields(obj)


def test_object_meta_fields_cluster_scoped_has_no_namespace() -> None:
    obj = {"metadata": {"name": "node-1"}}
    assert object_meta_fields(obj, namespaced=False) == {"metadata.name": "node-1"}


def test_object_meta_fields_missing_metadata_reads_empty() -> None:
    assert object_meta_fields({}) == {"metadata.name": "", "metadata.namespace": ""}
    assert object_meta_fields({"metadata": None}, namespaced=False) == {"metadata.name": ""}


def test_field_set_and_selector_together() -> None:
    objs = [
        {"metadata": {"name": "a", "namespace": "x"}},
        {"metadata": {"name": "b", "namespace": "x"}},
        {"metadata": {"name": "a", "namespace": "y"}},
    ]
    sel = parse_field_selector("metadata.namespace=x,metadata.name!=b")
    sel.check_supported(NAMESPACE_SCOPED_FIELDS, "configmaps")
    picked = [o for o in objs if sel.matches(object_meta_fields(o))]
    assert picked == [objs[0]]
