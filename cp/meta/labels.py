"""Label selectors with kube-apiserver's semantics (k8s.io/apimachinery/pkg/labels).

Clients send selectors written for a real kube-apiserver and compare our answers and
error texts with what they know, so the parser mirrors Kubernetes' lexer and
recursive-descent parser rule for rule, quirks included: `in`/`notin` are keywords only
where an operator may stand (`in in (in)` is valid), `x in ()` means "x is the empty
string", a bare key is an existence test, and requirements are sorted by key.  Error
texts follow apimachinery's field.Error and aggregate formats, including the `<nil>`
path Kubernetes prints for an invalid key in the string syntax.

Validation wording is pinned to current upstream (k8s.io/apimachinery/pkg/api/validate/
content): "must be no more than 63 bytes" and "a valid label key ...".  Older releases
said "characters" and "a qualified name"; the rest is identical.

A selector is evaluated once per object per watcher, so parsing compiles each
requirement into a small closure and `matches` only runs those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from cp.meta.go_quote import go_quote

__all__ = [
    "DOES_NOT_EXIST",
    "DOUBLE_EQUALS",
    "EQUALS",
    "EXISTS",
    "GREATER_THAN",
    "IN",
    "LESS_THAN",
    "NOT_EQUALS",
    "NOT_IN",
    "LabelSelector",
    "Requirement",
    "SelectorError",
    "label_key_errors",
    "label_selector_from_dict",
    "label_value_errors",
    "parse_label_selector",
]


class SelectorError(ValueError):
    """A label or field selector Kubernetes would reject; str() is the message it sends.

    One class for both kinds so request handlers turn either into a 400 the same way.
    """


# Operator spellings are those of k8s.io/apimachinery/pkg/selection, so they can be
# compared with (and reported like) Kubernetes' own.
DOES_NOT_EXIST = "!"
EQUALS = "="
DOUBLE_EQUALS = "=="
IN = "in"
NOT_EQUALS = "!="
NOT_IN = "notin"
EXISTS = "exists"
GREATER_THAN = "gt"
LESS_THAN = "lt"

_BINARY_OPERATORS = (IN, NOT_IN, EQUALS, DOUBLE_EQUALS, NOT_EQUALS, GREATER_THAN, LESS_THAN)
_SYMBOLS = {EQUALS: "=", DOUBLE_EQUALS: "==", NOT_EQUALS: "!=", GREATER_THAN: ">", LESS_THAN: "<"}

# --------------------------------------------------------------------------------------
# Go formatting helpers: messages must read exactly as Kubernetes prints them.


def _go_json(values: Sequence[str] | None) -> str:
    """encoding/json of a []string, as field.Invalid renders a non-string bad value.

    Go marshals a nil slice as null and escapes <, >, & and the JS line separators.
    """
    if not values:
        return "null"
    text = json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))
    for raw, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, esc)
    return text


def _invalid(path: str, bad_value: str, detail: str) -> str:
    """field.Invalid(...).Error(); bad_value is already rendered (%q or JSON)."""
    return f"{path}: Invalid value: {bad_value}: {detail}"


def _aggregate(errors: list[str]) -> str:
    """utilerrors.Aggregate.Error(): one error bare, several deduplicated in brackets."""
    if len(errors) == 1:
        return errors[0]
    seen: list[str] = []
    for err in errors:
        if err not in seen:
            seen.append(err)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]"


def _byte_len(s: str) -> int:
    """Go measures strings in UTF-8 bytes, and so do the length limits."""
    return len(s) if s.isascii() else len(s.encode("utf-8", "surrogatepass"))


def _regex_error(msg: str, regex: str, *examples: str) -> str:
    """content.RegexError, down to its double spaces between examples."""
    if not examples:
        return f"{msg} (regex used for validation is '{regex}')"
    parts = [msg, " (e.g. "]
    for i, example in enumerate(examples):
        if i:
            parts.append(" or ")
        parts.append(f"'{example}', ")
    parts.append(f"regex used for validation is '{regex}')")
    return "".join(parts)


# --------------------------------------------------------------------------------------
# Key and value validation (content.IsLabelKey / IsLabelValue).

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_RE = re.compile(_LABEL_KEY_FMT)
_LABEL_KEY_MSG = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_VALUE_RE = re.compile(_LABEL_VALUE_FMT)
_LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, "
    "'-', '_' or '.', and must start and end with an alphanumeric character"
)
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUBDOMAIN_RE = re.compile(_DNS1123_SUBDOMAIN_FMT)
_DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)
_NAME_MAX = 63
_VALUE_MAX = 63
_SUBDOMAIN_MAX = 253

_KEY_REGEX_ERROR = _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName", "my.name", "123-abc")
_VALUE_REGEX_ERROR = _regex_error(
    _LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"
)
_SUBDOMAIN_REGEX_ERROR = _regex_error(_DNS1123_SUBDOMAIN_MSG, _DNS1123_SUBDOMAIN_FMT, "example.com")


def _max_len_error(n: int) -> str:
    return f"must be no more than {n} bytes"


def label_key_errors(key: str) -> list[str]:
    """Why `key` is not a valid label key (qualified name); empty when it is.

    Exposed because object metadata validation needs the same rules and wording.
    """
    # Go's regexp `^...$` has no trailing-newline leniency, hence fullmatch.
    if _byte_len(key) <= _NAME_MAX and "/" not in key and _LABEL_KEY_RE.fullmatch(key):
        return []
    errs: list[str] = []
    parts = key.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            if _byte_len(prefix) > _SUBDOMAIN_MAX:
                errs.append("prefix part " + _max_len_error(_SUBDOMAIN_MAX))
            if not _DNS1123_SUBDOMAIN_RE.fullmatch(prefix):
                errs.append("prefix part " + _SUBDOMAIN_REGEX_ERROR)
    else:
        return [
            "a valid label key "
            + _KEY_REGEX_ERROR
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errs.append("name part must be non-empty")
    elif _byte_len(name) > _NAME_MAX:
        errs.append("name part " + _max_len_error(_NAME_MAX))
    if not _LABEL_KEY_RE.fullmatch(name):
        errs.append("name part " + _KEY_REGEX_ERROR)
    return errs


def label_value_errors(value: str) -> list[str]:
    """Why `value` is not a valid label value; empty when it is (the empty string is)."""
    errs: list[str] = []
    if _byte_len(value) > _VALUE_MAX:
        errs.append(_max_len_error(_VALUE_MAX))
    if not _LABEL_VALUE_RE.fullmatch(value):
        errs.append(_VALUE_REGEX_ERROR)
    return errs


_INT_RE = re.compile("[+-]?[0-9]+")
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _parse_int64(s: str) -> int | None:
    """strconv.ParseInt(s, 10, 64): Python's int() would also take '1_0', ' 1' and '١'."""
    if s.isascii() and s.isdigit():  # the common case, without the regex (hot in matching)
        n = int(s)
        return n if n <= _INT64_MAX else None
    if not _INT_RE.fullmatch(s):
        return None
    n = int(s)
    return n if _INT64_MIN <= n <= _INT64_MAX else None


# --------------------------------------------------------------------------------------
# Requirements.


class Requirement(NamedTuple):
    """One term of a selector.  Values keep their given order; str() sorts them."""

    key: str
    operator: str
    values: tuple[str, ...]

    def __str__(self) -> str:
        key, op, values = self
        if op == EXISTS:
            return key
        if op == DOES_NOT_EXIST:
            return "!" + key
        joined = values[0] if len(values) == 1 else ",".join(sorted(values))
        if op == IN or op == NOT_IN:
            return f"{key} {op} ({joined})"
        return key + _SYMBOLS[op] + joined


def _new_requirement(key: str, op: str, values: Sequence[str]) -> Requirement:
    """labels.NewRequirement with a nil path: every violation, aggregated."""
    errs: list[str] = []
    key_errs = label_key_errors(key)
    if key_errs:
        errs.append(_invalid("key", go_quote(key), "; ".join(key_errs)))
    if op == IN or op == NOT_IN:
        if not values:
            errs.append(
                _invalid(
                    "values",
                    _go_json(values),
                    "for 'in', 'notin' operators, values set can't be empty",
                )
            )
    elif op == EQUALS or op == DOUBLE_EQUALS or op == NOT_EQUALS:
        if len(values) != 1:
            errs.append(
                _invalid(
                    "values",
                    _go_json(values),
                    "exact-match compatibility requires one single value",
                )
            )
    elif op == EXISTS or op == DOES_NOT_EXIST:
        if values:
            errs.append(
                _invalid(
                    "values",
                    _go_json(values),
                    "values set must be empty for exists and does not exist",
                )
            )
    elif op == GREATER_THAN or op == LESS_THAN:
        if len(values) != 1:
            errs.append(
                _invalid(
                    "values",
                    _go_json(values),
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                )
            )
        for i, v in enumerate(values):
            if _parse_int64(v) is None:
                errs.append(
                    _invalid(
                        f"values[{i}]",
                        go_quote(v),
                        "for 'Gt', 'Lt' operators, the value must be an integer",
                    )
                )
    else:
        supported = ", ".join(go_quote(o) for o in (*_BINARY_OPERATORS, EXISTS, DOES_NOT_EXIST))
        errs.append(f"operator: Unsupported value: {go_quote(op)}: supported values: {supported}")
    for i, v in enumerate(values):
        value_errs = label_value_errors(v)
        if value_errs:
            errs.append(_invalid(f"values[{i}][{key}]", go_quote(v), "; ".join(value_errs)))
    if errs:
        raise SelectorError(_aggregate(errs))
    return Requirement(key, op, tuple(values))


_Matcher = Callable[[Mapping[str, str]], bool]


def _compile(req: Requirement) -> _Matcher:
    """A closure deciding the requirement against a label map (Requirement.Matches).

    Missing keys come back from .get() as None, which equals no string and is in no
    value set: exactly "In fails, NotIn holds" for an absent label.
    """
    key, op, values = req
    if op == EXISTS:
        return lambda labels: key in labels
    if op == DOES_NOT_EXIST:
        return lambda labels: key not in labels
    if op == GREATER_THAN or op == LESS_THAN:
        bound = _parse_int64(values[0]) if len(values) == 1 else None
        if bound is None:  # unreachable after validation; Kubernetes matches nothing
            return lambda labels: False
        greater = op == GREATER_THAN

        def compare(labels: Mapping[str, str]) -> bool:
            raw = labels.get(key)
            if raw is None:
                return False
            n = _parse_int64(raw)
            if n is None:
                return False
            return n > bound if greater else n < bound

        return compare
    positive = op in (IN, EQUALS, DOUBLE_EQUALS)
    if len(values) == 1:
        only = values[0]
        if positive:
            return lambda labels: labels.get(key) == only
        return lambda labels: labels.get(key) != only
    allowed = frozenset(values)
    if positive:
        return lambda labels: labels.get(key) in allowed
    return lambda labels: labels.get(key) not in allowed


_NO_LABELS: Mapping[str, str] = {}


class LabelSelector:
    """An AND of requirements, sorted by key as Kubernetes sorts them.

    Build one with parse_label_selector or label_selector_from_dict; the constructor
    trusts its requirements to be valid.  The empty selector matches everything.
    """

    __slots__ = ("_requirements", "_matchers")

    def __init__(self, requirements: Iterable[Requirement] = ()) -> None:
        # Stable, like Go's insertion sort for the <=12 terms real selectors have.
        reqs = tuple(sorted(requirements, key=lambda r: r.key))
        self._requirements = reqs
        self._matchers: tuple[_Matcher, ...] = tuple(_compile(r) for r in reqs)

    @property
    def requirements(self) -> tuple[Requirement, ...]:
        return self._requirements

    @property
    def empty(self) -> bool:
        """True when the selector restricts nothing, so callers can skip matching."""
        return not self._requirements

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        """Whether an object with these labels is selected; None means no labels."""
        if labels is None:
            labels = _NO_LABELS
        for matcher in self._matchers:
            if not matcher(labels):
                return False
        return True

    def requires_exact_match(self, key: str) -> str | None:
        """The one value `key` must have (=, == or a single-value in), else None.

        Lets a list narrow its scan (e.g. by an index) before matching; like
        Kubernetes, only the first requirement on the key is consulted.
        """
        for req in self._requirements:
            if req.key == key:
                if req.operator in (EQUALS, DOUBLE_EQUALS, IN) and len(req.values) == 1:
                    return req.values[0]
                return None
        return None

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        return f"LabelSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash(self._requirements)


# --------------------------------------------------------------------------------------
# The string syntax: Kubernetes' lexer and parser.

(
    _ERROR,
    _EOS,
    _CLOSED_PAR,
    _COMMA,
    _NOT,
    _DOUBLE_EQUALS,
    _EQUALS,
    _GREATER,
    _IDENT,
    _IN,
    _LESS,
    _NOT_EQUALS,
    _NOT_IN,
    _OPEN_PAR,
) = range(14)

_STRING_TO_TOKEN = {
    ")": _CLOSED_PAR,
    ",": _COMMA,
    "!": _NOT,
    "==": _DOUBLE_EQUALS,
    "=": _EQUALS,
    ">": _GREATER,
    "in": _IN,
    "<": _LESS,
    "!=": _NOT_EQUALS,
    "notin": _NOT_IN,
    "(": _OPEN_PAR,
}
_SPECIAL = frozenset("=!(),><")
_WHITESPACE = frozenset(" \t\r\n")
_STOP = _SPECIAL | _WHITESPACE
_NUL = "\0"

_Token = tuple[int, str]


def _lex(text: str) -> list[_Token]:
    """All tokens up to and including end-of-string.

    Go's lexer reads bytes and treats a 0 byte as end of input; a NUL inside the text
    therefore ends an identifier (and is consumed) or, between tokens, ends the scan.
    Reproduced so odd inputs fail the same way.
    """
    tokens: list[_Token] = []
    n = len(text)
    pos = 0
    while True:
        # skip whitespace; reading past the end yields NUL without advancing
        ch = _NUL
        while pos < n:
            ch = text[pos]
            pos += 1
            if ch not in _WHITESPACE:
                break
            ch = _NUL
        if ch == _NUL:
            tokens.append((_EOS, ""))
            return tokens
        pos -= 1
        if ch in _SPECIAL:
            buffer = ""
            last: _Token | None = None
            while pos < n:
                ch = text[pos]
                pos += 1
                if ch == _NUL:
                    break
                if ch not in _SPECIAL:
                    pos -= 1
                    break
                buffer += ch
                tok = _STRING_TO_TOKEN.get(buffer)
                if tok is not None:
                    last = (tok, buffer)
                elif last is not None:
                    pos -= 1
                    break
            tokens.append(last or (_ERROR, f"error expected: keyword found '{buffer}'"))
        else:
            start = pos
            end = n
            while pos < n:
                ch = text[pos]
                if ch == _NUL:
                    end = pos
                    pos += 1
                    break
                if ch in _STOP:
                    end = pos
                    break
                pos += 1
            literal = text[start:end]
            tokens.append((_STRING_TO_TOKEN.get(literal, _IDENT), literal))


class _Parser:
    """Recursive descent over the token list, one method per Kubernetes parse step."""

    __slots__ = ("tokens", "position")

    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.position = 0

    def _at(self, index: int, values: bool) -> _Token:
        # Past the end only after consuming EOS on an error path; answer EOS again.
        tok, lit = self.tokens[index] if index < len(self.tokens) else (_EOS, "")
        # In a value position the keywords are plain identifiers: `x in (in, notin)`.
        if values and (tok == _IN or tok == _NOT_IN):
            tok = _IDENT
        return tok, lit

    def lookahead(self, values: bool = True) -> _Token:
        return self._at(self.position, values)

    def consume(self, values: bool = True) -> _Token:
        self.position += 1
        return self._at(self.position - 1, values)

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            tok, lit = self.lookahead()
            if tok == _IDENT or tok == _NOT:
                try:
                    requirements.append(self.parse_requirement())
                except SelectorError as err:
                    raise SelectorError(f"unable to parse requirement: {err}") from None
                tok, lit = self.consume()
                if tok == _EOS:
                    return requirements
                if tok == _COMMA:
                    tok2, lit2 = self.lookahead()
                    if tok2 != _IDENT and tok2 != _NOT:
                        raise SelectorError(f"found '{lit2}', expected: identifier after ','")
                else:
                    raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            elif tok == _EOS:
                return requirements
            else:
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")

    def parse_requirement(self) -> Requirement:
        key, op = self.parse_key_and_infer_operator()
        if op == EXISTS or op == DOES_NOT_EXIST:
            return _new_requirement(key, op, ())
        op = self.parse_operator()
        if op == IN or op == NOT_IN:
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        return _new_requirement(key, op, sorted(values))

    def parse_key_and_infer_operator(self) -> tuple[str, str]:
        op = ""
        tok, lit = self.consume()
        if tok == _NOT:
            op = DOES_NOT_EXIST
            tok, lit = self.consume()
        if tok != _IDENT:
            raise SelectorError(f"found '{lit}', expected: identifier")
        errs = label_key_errors(lit)
        if errs:
            # Kubernetes validates with a nil field path here, which prints as <nil>.
            raise SelectorError(_invalid("<nil>", go_quote(lit), "; ".join(errs)))
        nxt, _ = self.lookahead()
        if (nxt == _EOS or nxt == _COMMA) and op != DOES_NOT_EXIST:
            op = EXISTS
        return lit, op

    def parse_operator(self) -> str:
        tok, lit = self.consume(values=False)
        op = _TOKEN_OPERATORS.get(tok)
        if op is None:
            raise SelectorError(f"found '{lit}', expected: {', '.join(_BINARY_OPERATORS)}")
        return op

    def parse_values(self) -> set[str]:
        tok, lit = self.consume()
        if tok != _OPEN_PAR:
            raise SelectorError(f"found '{lit}' expected: '('")
        tok, lit = self.lookahead()
        if tok == _IDENT or tok == _COMMA:
            values = self.parse_identifiers_list()
            tok, _ = self.consume()
            if tok != _CLOSED_PAR:  # unreachable: the list stops only before ')'
                raise SelectorError(f"found '{lit}', expected: ')'")
            return values
        if tok == _CLOSED_PAR:
            self.consume()
            return {""}
        raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")

    def parse_identifiers_list(self) -> set[str]:
        values: set[str] = set()
        while True:
            tok, lit = self.consume()
            if tok == _IDENT:
                values.add(lit)
                tok2, lit2 = self.lookahead()
                if tok2 == _COMMA:
                    continue
                if tok2 == _CLOSED_PAR:
                    return values
                raise SelectorError(f"found '{lit2}', expected: ',' or ')'")
            if tok == _COMMA:
                # Empty slots are the empty string: "(,a)", "(a,,b)", "(a,)".
                if not values:
                    values.add("")
                tok2, _ = self.lookahead()
                if tok2 == _CLOSED_PAR:
                    values.add("")
                    return values
                if tok2 == _COMMA:
                    self.consume()
                    values.add("")
                continue
            raise SelectorError(f"found '{lit}', expected: ',', or identifier")

    def parse_exact_value(self) -> list[str]:
        tok, _ = self.lookahead()
        if tok == _EOS or tok == _COMMA:
            return [""]
        tok, lit = self.consume()
        if tok == _IDENT:
            return [lit]
        raise SelectorError(f"found '{lit}', expected: identifier")


_TOKEN_OPERATORS = {
    _IN: IN,
    _EQUALS: EQUALS,
    _DOUBLE_EQUALS: DOUBLE_EQUALS,
    _GREATER: GREATER_THAN,
    _LESS: LESS_THAN,
    _NOT_IN: NOT_IN,
    _NOT_EQUALS: NOT_EQUALS,
}

_EVERYTHING = LabelSelector()


def parse_label_selector(text: str) -> LabelSelector:
    """Parse the `labelSelector` query syntax exactly as labels.Parse does.

    Grammar: requirement (',' requirement)*, where a requirement is `[!]key`,
    `key (=|==|!=) value`, `key (in|notin) (v1,v2,...)` or `key (>|<) integer`.
    Whitespace (space, tab, CR, LF) separates tokens.  "" selects everything.
    """
    if not text:
        return _EVERYTHING
    return LabelSelector(_Parser(text).parse())


# --------------------------------------------------------------------------------------
# metav1.LabelSelector objects.

_EXPRESSION_OPERATORS = {
    "In": IN,
    "NotIn": NOT_IN,
    "Exists": EXISTS,
    "DoesNotExist": DOES_NOT_EXIST,
}


def _or_default(raw: Any, default: Any) -> Any:
    return default if raw is None else raw


def _string_list(raw: Any, where: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise SelectorError(f"{where}: must be a list of strings")
    return raw


def label_selector_from_dict(sel: Mapping[str, Any]) -> LabelSelector:
    """Convert a metav1.LabelSelector (`matchLabels`, `matchExpressions`) like
    metav1.LabelSelectorAsSelector, with its validation errors.

    Takes the object, never None: Kubernetes gives a nil selector different meanings
    per caller (nothing for most controllers, everything elsewhere), so the caller
    decides what absence means.  `{}` and empty fields select everything.
    Malformed shapes (a string where a map belongs) are rejected with a short message
    of our own; Kubernetes would have failed earlier, decoding the JSON.
    """
    if not isinstance(sel, Mapping):
        raise SelectorError("label selector must be an object")
    # null is "not set" in JSON; anything else of the wrong shape is refused.
    match_labels = _or_default(sel.get("matchLabels"), {})
    expressions = _or_default(sel.get("matchExpressions"), [])
    if not isinstance(match_labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in match_labels.items()
    ):
        raise SelectorError("matchLabels: must be a map of strings")
    if not isinstance(expressions, list):
        raise SelectorError("matchExpressions: must be a list")
    if not match_labels and not expressions:
        return _EVERYTHING
    requirements: list[Requirement] = []
    # Go walks the map in random order; sorting makes the first error deterministic.
    for key in sorted(match_labels):
        requirements.append(_new_requirement(key, EQUALS, (match_labels[key],)))
    for i, expr in enumerate(expressions):
        if not isinstance(expr, Mapping):
            raise SelectorError(f"matchExpressions[{i}]: must be an object")
        key = _or_default(expr.get("key"), "")
        operator = _or_default(expr.get("operator"), "")
        if not isinstance(key, str) or not isinstance(operator, str):
            raise SelectorError(f"matchExpressions[{i}]: key and operator must be strings")
        op = _EXPRESSION_OPERATORS.get(operator)
        if op is None:
            raise SelectorError(f"{go_quote(operator)} is not a valid label selector operator")
        values = _string_list(expr.get("values"), f"matchExpressions[{i}].values")
        requirements.append(_new_requirement(key, op, values))
    return LabelSelector(requirements)
