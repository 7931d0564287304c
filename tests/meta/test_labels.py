"""Label selectors must parse, match, print and fail exactly like kube-apiserver's."""

from __future__ import annotations

import pytest

from cp.meta.labels import (
    DOES_NOT_EXIST,
    DOUBLE_EQUALS,
    EQUALS,
    EXISTS,
    GREATER_THAN,
    IN,
    LESS_THAN,
    NOT_EQUALS,
    NOT_IN,
    LabelSelector,
    Requirement,
    SelectorError,
    label_key_errors,
    label_selector_from_dict,
    label_value_errors,
    parse_label_selector,
)

# Kubernetes' texts, spelled out rather than imported so a drift in the module shows.
KEY_NAME_RULE = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start "
    "and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', "
    "regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)
VALUE_RULE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or "
    "'my_value',  or '12345', regex used for validation is "
    "'(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
)
PREFIX_RULE = (
    "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
    "characters, '-' or '.', and must start and end with an alphanumeric character "
    "(e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def reqs(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    return [tuple(r) for r in parse_label_selector(text).requirements]


# ---------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=b", [("a", EQUALS, ("b",))]),
        ("a==b", [("a", DOUBLE_EQUALS, ("b",))]),
        ("a!=b", [("a", NOT_EQUALS, ("b",))]),
        ("a in (y,x)", [("a", IN, ("x", "y"))]),
        ("a notin (x,y)", [("a", NOT_IN, ("x", "y"))]),
        ("a", [("a", EXISTS, ())]),
        ("!a", [("a", DOES_NOT_EXIST, ())]),
        ("a>1", [("a", GREATER_THAN, ("1",))]),
        ("a<10", [("a", LESS_THAN, ("10",))]),
        ("a=", [("a", EQUALS, ("",))]),
        ("a!=", [("a", NOT_EQUALS, ("",))]),
        ("a in ()", [("a", IN, ("",))]),
        ("a in (,b)", [("a", IN, ("", "b"))]),
        ("a in (b,)", [("a", IN, ("", "b"))]),
        ("a in (b,,c)", [("a", IN, ("", "b", "c"))]),
        ("a in (b,b)", [("a", IN, ("b",))]),
        ("example.com/app-name_1.x=V.1-b_c", [("example.com/app-name_1.x", EQUALS, ("V.1-b_c",))]),
        # keywords are identifiers wherever an operator cannot stand
        ("in in (in,notin)", [("in", IN, ("in", "notin"))]),
        ("notin=in", [("notin", EQUALS, ("in",))]),
        ("a=in", [("a", EQUALS, ("in",))]),
    ],
)
def test_parse_operators(text: str, expected: list) -> None:
    assert reqs(text) == expected


def test_whitespace_is_space_tab_cr_lf() -> None:
    spaced = reqs(" \t b\n=\r1 ,\ta  notin\t\n( y ,\tx ) , c ")
    assert spaced == [("a", NOT_IN, ("x", "y")), ("b", EQUALS, ("1",)), ("c", EXISTS, ())]
    # "x= " is "x equals the empty string", not an error
    assert reqs("x= ,z= ") == [("x", EQUALS, ("",)), ("z", EQUALS, ("",))]


def test_requirements_sorted_by_key_and_stable_for_equal_keys() -> None:
    assert reqs("z,a=1,m!=2") == [
        ("a", EQUALS, ("1",)),
        ("m", NOT_EQUALS, ("2",)),
        ("z", EXISTS, ()),
    ]
    assert reqs("x=a,a=x") == reqs("a=x,x=a")
    assert [r[1] for r in reqs("k!=1,k,k=2")] == [NOT_EQUALS, EXISTS, EQUALS]


def test_empty_selector_selects_everything() -> None:
    sel = parse_label_selector("")
    assert sel.empty
    assert str(sel) == ""
    assert sel.matches({}) and sel.matches({"a": "b"}) and sel.matches(None)


def test_whitespace_only_is_empty_but_other_unicode_space_is_an_identifier() -> None:
    assert parse_label_selector(" \t\r\n").empty
    with pytest.raises(SelectorError, match="^unable to parse requirement: <nil>: Invalid value"):
        parse_label_selector("\u00a0")


def test_nul_ends_the_input_like_gos_zero_byte() -> None:
    # Go's lexer reads byte 0 as end-of-input: after whitespace it stops the scan ...
    assert reqs("a=b \x00 garbage") == [("a", EQUALS, ("b",))]
    # ... and inside an identifier it only ends that identifier.
    with pytest.raises(SelectorError, match="^found 'c', expected: ',' or 'end of string'$"):
        parse_label_selector("a=b\x00c")


# ---------------------------------------------------------------------- parse errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a=(b", "unable to parse requirement: found '(', expected: identifier"),
        ("=x", "found '=', expected: !, identifier, or 'end of string'"),
        (",a", "found ',', expected: !, identifier, or 'end of string'"),
        ("a in x", "unable to parse requirement: found 'x' expected: '('"),
        ("a==b==c", "found '==', expected: ',' or 'end of string'"),
        ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ("a=b c", "found 'c', expected: ',' or 'end of string'"),
        ("a in ()x", "found 'x', expected: ',' or 'end of string'"),
        ("a,", "found '', expected: identifier after ','"),
        ("a,,b", "found ',', expected: identifier after ','"),
        ("!", "unable to parse requirement: found '', expected: identifier"),
        ("!!a", "unable to parse requirement: found '!', expected: identifier"),
        ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
        ("a ! b", "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt"),
        ("a>=1", "unable to parse requirement: found '=', expected: identifier"),
        ("a in", "unable to parse requirement: found '' expected: '('"),
        ("a in (", "unable to parse requirement: found '', expected: ',', ')' or identifier"),
        ("a in (=", "unable to parse requirement: found '=', expected: ',', ')' or identifier"),
        ("a in (b", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("a in (b c)", "unable to parse requirement: found 'c', expected: ',' or ')'"),
        ("a in (b,", "unable to parse requirement: found '', expected: ',', or identifier"),
        ("a in (b,=)", "unable to parse requirement: found '=', expected: ',', or identifier"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == message


def test_selector_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_label_selector("=")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a@b=c", '<nil>: Invalid value: "a@b": ' + KEY_NAME_RULE),
        ("-a", '<nil>: Invalid value: "-a": ' + KEY_NAME_RULE),
        ("a.", '<nil>: Invalid value: "a.": ' + KEY_NAME_RULE),
        ("k" * 64, f'<nil>: Invalid value: "{"k" * 64}": name part must be no more than 63 bytes'),
        (
            "a/",
            '<nil>: Invalid value: "a/": name part must be non-empty; ' + KEY_NAME_RULE,
        ),
        ("/a", '<nil>: Invalid value: "/a": prefix part must be non-empty'),
        ("Example.com/a", '<nil>: Invalid value: "Example.com/a": ' + PREFIX_RULE),
        (
            "a/b/c",
            '<nil>: Invalid value: "a/b/c": a valid label key must consist of alphanumeric '
            "characters, '-', '_' or '.', and must start and end with an alphanumeric "
            "character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
            "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS "
            "subdomain prefix and '/' (e.g. 'example.com/MyName')",
        ),
        # Go's %q: control characters escaped, printable non-ASCII kept
        ("a\x01", '<nil>: Invalid value: "a\\x01": ' + KEY_NAME_RULE),
        ("ключ", '<nil>: Invalid value: "ключ": ' + KEY_NAME_RULE),
        ('a"b', '<nil>: Invalid value: "a\\"b": ' + KEY_NAME_RULE),
    ],
)
def test_invalid_keys(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == "unable to parse requirement: " + message


def test_over_long_prefix() -> None:
    key = "p" * 254 + "/n"
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(key)
    assert str(exc.value).endswith(": prefix part must be no more than 253 bytes")
    # 253 is fine, and so is a 63-character name
    assert reqs("p" * 253 + "/" + "n" * 63) == [("p" * 253 + "/" + "n" * 63, EXISTS, ())]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a=" + "v" * 64,
            f'values[0][a]: Invalid value: "{"v" * 64}": must be no more than 63 bytes',
        ),
        ("a=-b", 'values[0][a]: Invalid value: "-b": ' + VALUE_RULE),
        ("a!=b.", 'values[0][a]: Invalid value: "b.": ' + VALUE_RULE),
        # '|' is no operator, so "a||y" is one value, rejected before the second '=' is read
        ("x=a||y=b", 'values[0][x]: Invalid value: "a||y": ' + VALUE_RULE),
        # set values are validated after sorting, so the index is the sorted position
        ("a in (z,b@)", 'values[0][a]: Invalid value: "b@": ' + VALUE_RULE),
        (
            "a in (x@,y@)",
            f'[values[0][a]: Invalid value: "x@": {VALUE_RULE}, '
            f'values[1][a]: Invalid value: "y@": {VALUE_RULE}]',
        ),
        # limits count UTF-8 bytes: 32 two-byte characters are 64 bytes
        (
            "a=" + "é" * 32,
            f'values[0][a]: Invalid value: "{"é" * 32}": must be no more than 63 bytes; '
            + VALUE_RULE,
        ),
    ],
)
def test_invalid_values(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == "unable to parse requirement: " + message


def test_longest_valid_value() -> None:
    assert reqs("a=" + "v" * 63) == [("a", EQUALS, ("v" * 63,))]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a>b",
            "values[0]: Invalid value: \"b\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a<",
            "values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a>9223372036854775808",
            'values[0]: Invalid value: "9223372036854775808": '
            "for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        (
            "a>1@",
            "[values[0]: Invalid value: \"1@\": for 'Gt', 'Lt' operators, the value must be an "
            'integer, values[0][a]: Invalid value: "1@": ' + VALUE_RULE + "]",
        ),
        (
            "a>1_0",  # a fine label value, but Go's ParseInt takes no underscores
            "values[0]: Invalid value: \"1_0\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        # an integer, but not a label value
        ("a>-1", 'values[0][a]: Invalid value: "-1": ' + VALUE_RULE),
    ],
)
def test_gt_lt_values(text: str, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        parse_label_selector(text)
    assert str(exc.value) == "unable to parse requirement: " + message


def test_gt_accepts_int64_max() -> None:
    assert reqs("a>9223372036854775807") == [("a", GREATER_THAN, ("9223372036854775807",))]


def test_key_and_value_validators() -> None:
    assert label_key_errors("app.kubernetes.io/name") == []
    assert label_key_errors("A1") == []
    assert label_key_errors("") == ["name part must be non-empty", KEY_NAME_RULE]
    assert label_key_errors("a\n") == [KEY_NAME_RULE]  # no trailing-newline leniency
    assert label_value_errors("") == []
    assert label_value_errors("x\n") == [VALUE_RULE]


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("text", "labels", "selected"),
    [
        ("x=y", {"x": "y"}, True),
        ("x=y", {"x": "z"}, False),
        ("x=z", {}, False),
        ("x==y", {"x": "y"}, True),
        ("x=", {"x": ""}, True),
        ("x=", {}, False),
        ("x!=y", {"x": "z"}, True),
        ("x!=y", {"x": "y"}, False),
        ("x!=y", {}, True),  # absent label: != holds
        ("x in (a,b)", {"x": "b"}, True),
        ("x in (a,b)", {"x": "c"}, False),
        ("x in (a,b)", {}, False),
        ("x in ()", {"x": ""}, True),
        ("x in ()", {"y": "baz"}, False),
        ("x notin (a,b)", {"x": "c"}, True),
        ("x notin (a,b)", {"x": "a"}, False),
        ("x notin (a,b)", {}, True),  # absent label: notin holds
        ("x notin ()", {"y": ""}, True),
        ("x", {"x": ""}, True),
        ("x", {"y": "x"}, False),
        ("!x", {"y": "z"}, True),
        ("!x", {"x": ""}, False),
        ("x>1", {"x": "2"}, True),
        ("x>1", {"x": "1"}, False),
        ("x>1", {"x": "007"}, True),
        ("x>0", {"x": "-1"}, False),
        ("x<1", {"x": "0"}, True),
        ("x<1", {"x": "-5"}, True),
        ("x<1", {"x": "+0"}, True),
        ("x>1", {"x": "v2"}, False),  # unparsable label value never matches
        ("x>1", {"x": "9223372036854775808"}, False),  # beyond int64
        ("x<1", {}, False),  # absent label never matches gt/lt
        ("x<1", {"x": " 0"}, False),  # Python's int() would accept this; Go's does not
        ("x>1", {"x": "²"}, False),  # nor Unicode digits
        ("x<9", {"x": "١"}, False),
        ("x=y,z=w", {"x": "y", "z": "w"}, True),
        ("x=y,z=w", {"x": "w", "z": "w"}, False),
        ("foo=bar,foobar=bar,baz=blah", {"foo": "bar", "baz": "blah"}, False),
        ("x notin (),y", {"y": ""}, True),
        ("x notin (),!y", {"y": ""}, False),
    ],
)
def test_matches(text: str, labels: dict[str, str], selected: bool) -> None:
    assert parse_label_selector(text).matches(labels) is selected


def test_none_labels_are_no_labels() -> None:
    assert parse_label_selector("!a,b notin (c)").matches(None)
    assert not parse_label_selector("a").matches(None)


def test_matching_accepts_any_mapping() -> None:
    from types import MappingProxyType

    assert parse_label_selector("a in (1,2),b").matches(MappingProxyType({"a": "2", "b": ""}))


def test_requires_exact_match() -> None:
    sel = parse_label_selector("a=1,b in (2),c in (3,4),d!=5,e==6")
    assert sel.requires_exact_match("a") == "1"
    assert sel.requires_exact_match("b") == "2"
    assert sel.requires_exact_match("c") is None
    assert sel.requires_exact_match("d") is None
    assert sel.requires_exact_match("e") == "6"
    assert sel.requires_exact_match("zz") is None


# ------------------------------------------------------------------------- round trip


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1,z<5", "x>1,z<5"),
        ("y==b , x = a", "x=a,y==b"),
        ("x in (def, abc),y notin (jkl),z", "x in (abc,def),y notin (jkl),z"),
        ("z notin ( ), x notin (abc)", "x notin (abc),z notin ()"),
        ("x in (foo,,baz),y,z notin ()", "x in (,baz,foo),y,z notin ()"),
        ("in in (notin, in)", "in in (in,notin)"),
        ("a.io/k in (b)", "a.io/k in (b)"),
    ],
)
def test_string_form(text: str, canonical: str) -> None:
    sel = parse_label_selector(text)
    assert str(sel) == canonical
    again = parse_label_selector(canonical)
    assert again == sel
    assert str(again) == canonical


def test_repr_and_hash() -> None:
    a = parse_label_selector("b=1,a")
    assert repr(a) == "LabelSelector('a,b=1')"
    assert hash(a) == hash(parse_label_selector("a, b=1"))
    assert a != parse_label_selector("a,b==1")


def test_requirement_str() -> None:
    assert str(Requirement("k", IN, ("b", "a"))) == "k in (a,b)"
    assert str(Requirement("k", LESS_THAN, ("3",))) == "k<3"


def test_constructed_selector_sorts_requirements() -> None:
    sel = LabelSelector([Requirement("b", EXISTS, ()), Requirement("a", EQUALS, ("1",))])
    assert str(sel) == "a=1,b"
    assert sel.matches({"a": "1", "b": "x"})
    assert not sel.matches({"a": "1"})


# --------------------------------------------------------------- metav1.LabelSelector


def test_dict_empty_selects_everything() -> None:
    for sel in ({}, {"matchLabels": {}}, {"matchLabels": None, "matchExpressions": []}):
        converted = label_selector_from_dict(sel)
        assert converted.empty
        assert converted.matches({"any": "thing"})


def test_dict_conversion() -> None:
    sel = label_selector_from_dict(
        {
            "matchLabels": {"tier": "web", "app": "shop"},
            "matchExpressions": [
                {"key": "env", "operator": "In", "values": ["prod", "canary", "prod"]},
                {"key": "track", "operator": "NotIn", "values": ["beta"]},
                {"key": "owner", "operator": "Exists"},
                {"key": "legacy", "operator": "DoesNotExist", "values": []},
            ],
        }
    )
    assert (
        str(sel) == "app=shop,env in (canary,prod,prod),!legacy,owner,tier=web,track notin (beta)"
    )
    base = {"app": "shop", "tier": "web", "env": "prod", "owner": "x"}
    assert sel.matches(base)
    assert sel.matches({**base, "track": "stable"})
    assert not sel.matches({**base, "track": "beta"})
    assert not sel.matches({**base, "legacy": "1"})
    assert not sel.matches({**base, "env": "dev"})
    assert not sel.matches({k: v for k, v in base.items() if k != "owner"})


def test_dict_and_string_forms_agree() -> None:
    from_dict = label_selector_from_dict(
        {
            "matchLabels": {"a": "1"},
            "matchExpressions": [{"key": "b", "operator": "In", "values": ["x", "y"]}],
        }
    )
    assert from_dict == parse_label_selector("b in (y,x),a=1")


@pytest.mark.parametrize(
    ("sel", "message"),
    [
        (
            {"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]},
            '"Gt" is not a valid label selector operator',
        ),
        ({"matchExpressions": [{"key": "a"}]}, '"" is not a valid label selector operator'),
        (
            {"matchExpressions": [{"key": "a", "operator": "In"}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": []}]},
            "values: Invalid value: null: for 'in', 'notin' operators, values set can't be empty",
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x", "<y>"]}]},
            '[values: Invalid value: ["x","\\u003cy\\u003e"]: values set must be empty for '
            'exists and does not exist, values[1][a]: Invalid value: "<y>": ' + VALUE_RULE + "]",
        ),
        (
            {"matchLabels": {"bad key": "v"}},
            'key: Invalid value: "bad key": ' + KEY_NAME_RULE,
        ),
        (
            {"matchLabels": {"k": "bad value"}},
            'values[0][k]: Invalid value: "bad value": ' + VALUE_RULE,
        ),
        (
            {"matchLabels": {"-k": "-v"}},
            f'[key: Invalid value: "-k": {KEY_NAME_RULE}, '
            f'values[0][-k]: Invalid value: "-v": {VALUE_RULE}]',
        ),
        (
            {"matchExpressions": [{"operator": "Exists"}]},
            'key: Invalid value: "": name part must be non-empty; ' + KEY_NAME_RULE,
        ),
    ],
)
def test_dict_errors(sel: dict, message: str) -> None:
    with pytest.raises(SelectorError) as exc:
        label_selector_from_dict(sel)
    assert str(exc.value) == message


def test_dict_match_labels_checked_before_expressions_in_key_order() -> None:
    with pytest.raises(SelectorError, match='^key: Invalid value: "-a"'):
        label_selector_from_dict(
            {
                "matchLabels": {"-b": "1", "-a": "1"},
                "matchExpressions": [{"key": "x", "operator": "Bogus"}],
            }
        )


@pytest.mark.parametrize(
    "sel",
    [
        "app=web",
        {"matchLabels": ["app"]},
        {"matchLabels": {"app": 1}},
        {"matchLabels": {1: "a", "b": "c"}},
        {"matchLabels": []},
        {"matchExpressions": {}},
        {"matchExpressions": [{"key": "a", "operator": 0}]},
        {"matchExpressions": {"key": "a"}},
        {"matchExpressions": ["a"]},
        {"matchExpressions": [{"key": "a", "operator": "In", "values": "x"}]},
        {"matchExpressions": [{"key": 1, "operator": "Exists"}]},
    ],
)
def test_dict_malformed_shapes(sel: object) -> None:
    with pytest.raises(SelectorError):
        label_selector_from_dict(sel)  # type: ignore[arg-type]
