"""Field selectors with kube-apiserver's semantics (k8s.io/apimachinery/pkg/fields).

The syntax is much poorer than labels': comma-separated `field=value`, `field==value`
and `field!=value` terms, no whitespace trimming, and backslash escapes (`\\\\`, `\\,`,
`\\=`) so a value can hold the separators.  Terms are sorted by their raw text, an
absent field compares as the empty string, and a term with both sides empty (`=`)
vanishes, all as in Kubernetes.  Which fields exist is the resource's business: parse
first, then check_supported against the resource's field set, which is where Kubernetes
reports "field label not supported".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, NamedTuple

from cp.meta.labels import SelectorError

__all__ = [
    "CLUSTER_SCOPED_FIELDS",
    "NAMESPACE_SCOPED_FIELDS",
    "FieldRequirement",
    "FieldSelector",
    "SelectorError",
    "escape_value",
    "object_meta_fields",
    "parse_field_selector",
    "unescape_value",
]

EQUALS = "="
NOT_EQUALS = "!="

# What every resource supports without declaring anything (DefaultNamespaceScopedAttr /
# DefaultClusterScopedAttr): cluster-scoped objects have no namespace field at all.
NAMESPACE_SCOPED_FIELDS: frozenset[str] = frozenset({"metadata.name", "metadata.namespace"})
CLUSTER_SCOPED_FIELDS: frozenset[str] = frozenset({"metadata.name"})


class FieldRequirement(NamedTuple):
    """One term; operator is "=" or "!=" (`==` is parsed as "=", as Kubernetes does)."""

    field: str
    operator: str
    value: str

    def __str__(self) -> str:
        return self.field + self.operator + escape_value(self.value)


def escape_value(value: str) -> str:
    """fields.EscapeValue: make a literal value safe to embed in a selector string."""
    if "\\" not in value and "," not in value and "=" not in value:
        return value
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=")


def unescape_value(text: str) -> str:
    """fields.UnescapeValue: the literal value of a term's right-hand side.

    Unknown escapes, a trailing backslash and a bare `=` or `,` are errors.  The
    bare-character message prints the code point as a number ("... value: 61") because
    Kubernetes formats the rune with %v; kept so clients see the same text.
    """
    if "\\" not in text and "," not in text and "=" not in text:
        return text
    out: list[str] = []
    in_slash = False
    for ch in text:
        if in_slash:
            if ch not in "\\,=":
                raise SelectorError(f"invalid field selector: invalid escape sequence: \\{ch}")
            out.append(ch)
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == "," or ch == "=":
            raise SelectorError(f"invalid field selector: unescaped character in value: {ord(ch)}")
        else:
            out.append(ch)
    if in_slash:
        raise SelectorError("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


def _split_terms(text: str) -> list[str]:
    """Split on commas not preceded by an escaping backslash; escapes stay in place."""
    if "\\" not in text:
        return text.split(",")
    terms: list[str] = []
    start = 0
    in_slash = False
    for i, ch in enumerate(text):
        if in_slash:
            in_slash = False
        elif ch == "\\":
            in_slash = True
        elif ch == ",":
            terms.append(text[start:i])
            start = i + 1
    terms.append(text[start:])
    return terms


def _split_term(term: str) -> tuple[str, str, str] | None:
    """(lhs, operator, raw rhs) at the first operator, or None when there is none.

    Kubernetes tries "!=", "==", "=" at each position in turn; every operator holds an
    "=", so the first "=" decides: a "!" just before it makes "!=", another "=" just
    after it makes "==".
    """
    i = term.find("=")
    if i < 0:
        return None
    if i > 0 and term[i - 1] == "!":
        return term[: i - 1], NOT_EQUALS, term[i + 1 :]
    if term.startswith("=", i + 1):
        return term[:i], EQUALS, term[i + 2 :]
    return term[:i], EQUALS, term[i + 1 :]


_Matcher = Callable[[Mapping[str, str]], bool]


def _compile(req: FieldRequirement) -> _Matcher:
    field, op, value = req
    # fields.Set.Get: an absent field reads as "".
    if op == EQUALS:
        return lambda fields: fields.get(field, "") == value
    return lambda fields: fields.get(field, "") != value


class FieldSelector:
    """An AND of field terms in Kubernetes' order; the empty selector matches all."""

    __slots__ = ("_requirements", "_matchers")

    def __init__(self, requirements: Iterable[FieldRequirement] = ()) -> None:
        self._requirements = tuple(requirements)
        self._matchers: tuple[_Matcher, ...] = tuple(_compile(r) for r in self._requirements)

    @property
    def requirements(self) -> list[FieldRequirement]:
        return list(self._requirements)

    @property
    def empty(self) -> bool:
        """True when nothing is restricted, so callers can skip building field sets."""
        return not self._requirements

    def matches(self, fields: Mapping[str, str]) -> bool:
        """Whether an object with this field set (see object_meta_fields) is selected."""
        for matcher in self._matchers:
            if not matcher(fields):
                return False
        return True

    def requires_exact_match(self, field: str) -> str | None:
        """The value an `=` term pins `field` to, else None.

        Lets a list or watch on `metadata.name=x` go straight to one key instead of
        scanning; `!=` terms never pin anything.
        """
        for req in self._requirements:
            if req.field == field and req.operator == EQUALS:
                return req.value
        return None

    def check_supported(self, supported: Collection[str], resource: str) -> None:
        """Reject the first term (in selector order) on a field the resource lacks.

        This is the apiserver's field-label conversion step.  `resource` names the
        caller's resource so the call site reads plainly and per-resource aliases have
        a home later; Kubernetes' message does not mention it, so neither does ours.
        """
        del resource  # see docstring: deliberately absent from the message
        for req in self._requirements:
            if req.field not in supported:
                raise SelectorError(f"field label not supported: {req.field}")

    def __str__(self) -> str:
        return ",".join(str(r) for r in self._requirements)

    def __repr__(self) -> str:
        return f"FieldSelector({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSelector):
            return NotImplemented
        return self._requirements == other._requirements

    def __hash__(self) -> int:
        return hash(self._requirements)


_EVERYTHING = FieldSelector()


def parse_field_selector(text: str) -> FieldSelector:
    """Parse the `fieldSelector` query syntax exactly as fields.ParseSelector does.

    No field names are checked here (that needs the resource: see check_supported),
    and no whitespace is trimmed: `a = b` means field "a " and value " b".
    """
    if not text:
        return _EVERYTHING
    requirements: list[FieldRequirement] = []
    for part in sorted(_split_terms(text)):
        if not part:
            continue
        split = _split_term(part)
        if split is None:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
        field, op, raw = split
        value = unescape_value(raw)
        if not field and not value:
            # Kubernetes' parse-time Transform turns such a term into "everything".
            continue
        requirements.append(FieldRequirement(field, op, value))
    return FieldSelector(requirements) if requirements else _EVERYTHING


def object_meta_fields(obj: Mapping[str, Any], *, namespaced: bool = True) -> dict[str, str]:
    """The field set every resource can be selected on, from its metadata.

    Mirrors DefaultNamespaceScopedAttr / DefaultClusterScopedAttr: cluster-scoped
    objects get no `metadata.namespace`, so with check_supported against
    CLUSTER_SCOPED_FIELDS a selector on it is refused rather than silently matching
    the empty string.  Missing names read as "", as Go's zero value would.
    """
    meta = obj.get("metadata") or {}
    name = meta.get("name") or ""
    if not namespaced:
        return {"metadata.name": name}
    return {"metadata.name": name, "metadata.namespace": meta.get("namespace") or ""}
