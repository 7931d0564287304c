"""Swagger 2.0 documents in gnostic's protobuf encoding (message `openapi.v2.Document`).

client-go's `OpenAPISchema()` fetches /openapi/v2 only as protobuf and decodes it with
`proto.Unmarshal` into gnostic's generated `openapi_v2.Document`; there is no JSON
fallback.  kubectl validates the items of a `kind: List` with the models built from it,
so without these bytes `kubectl apply -f list.yaml` fails before sending anything.

kube-apiserver makes the bytes by compiling its JSON spec with gnostic
(`openapi_v2.NewDocument`) and marshalling the result.  This compiles the same JSON
value straight to the wire format.  Each message is a table of JSON key -> (field
number, field type), with the numbers of gnostic's openapiv2/OpenAPIv2.proto; the
conversions are gnostic's:

- a JSON object of names (definitions, properties, paths, responses, headers ...) is a
  repeated `Named*` message {name = 1, value = 2}, in the document's order;
- `x-` keys are `NamedAny` vendor extensions whose `Any.yaml` is the value as YAML text
  (kube-openapi reads them back with yaml.Unmarshal: kubectl finds a definition's kind
  through `x-kubernetes-group-version-kind`); `default`, `example` and `enum` values
  are `Any` the same way;
- `type` is a `TypeItem` list, `items` an `ItemsItem` list of schemas,
  `additionalProperties` a oneof of a schema or a boolean (a oneof keeps `false`);
  a parameter is a body or a header/formData/query/path parameter by its `in`, and a
  parameter or response with `$ref` is a `JsonReference`;
- zero scalars are left out, as proto3 does; a message is written whenever its key is
  present, even empty (`properties: {}` makes a definition a kind, not a map);
- keys the Swagger 2.0 schema does not know are left out (gnostic refuses them).

A value of the wrong JSON type raises `ValueError`, as gnostic refuses the document.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping
from typing import Any

import yaml

__all__ = ["encode_document", "yaml_text"]

# A field type: "string", "bool", "int64", "double", "any" (an `Any` holding YAML), a
# message name; ("repeated", T) for a JSON list; ("map", T) for a message whose field 1
# holds `Named*` {name, T} pairs, one per key of a JSON object.
FieldType = str | tuple[str, Any]
# JSON key -> (field number, type), and the vendor extensions' field number.
Message = tuple[dict[str, tuple[int, FieldType]], int | None]


def encode_document(document: Mapping[str, Any]) -> bytes:
    """The gnostic `Document` message for a Swagger 2.0 document given as JSON values."""
    return _body("Document", document)


# --- wire format --------------------------------------------------------------------


def _varint(out: bytearray, n: int) -> None:
    n &= 0xFFFF_FFFF_FFFF_FFFF  # negative int64s take ten bytes, as in Go
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _tag(out: bytearray, number: int, wire_type: int) -> None:
    _varint(out, number << 3 | wire_type)


def _delimited(out: bytearray, number: int, data: bytes | bytearray) -> None:
    _tag(out, number, 2)
    _varint(out, len(data))
    out += data


# --- messages -----------------------------------------------------------------------

_PRIMITIVE_KEYWORDS: tuple[tuple[str, FieldType], ...] = (
    ("type", "string"),
    ("format", "string"),
    ("items", "PrimitivesItems"),
    ("collectionFormat", "string"),
    ("default", "any"),
    ("maximum", "double"),
    ("exclusiveMaximum", "bool"),
    ("minimum", "double"),
    ("exclusiveMinimum", "bool"),
    ("maxLength", "int64"),
    ("minLength", "int64"),
    ("pattern", "string"),
    ("maxItems", "int64"),
    ("minItems", "int64"),
    ("uniqueItems", "bool"),
    ("enum", ("repeated", "any")),
    ("multipleOf", "double"),
)


def _primitive(first: int) -> dict[str, tuple[int, FieldType]]:
    """The validation keywords of non-body parameters, headers and their items: the same
    seventeen fields, numbered on from `first` in each message."""
    return {key: (first + i, kind) for i, (key, kind) in enumerate(_PRIMITIVE_KEYWORDS)}


_PARAMETER_HEAD: dict[str, tuple[int, FieldType]] = {
    "required": (1, "bool"),
    "in": (2, "string"),
    "description": (3, "string"),
    "name": (4, "string"),
}
# Query and formData parameters have allowEmptyValue (5) before the keywords; header and
# path parameters do not.
_PARAMETER_WITH_EMPTY = {**_PARAMETER_HEAD, "allowEmptyValue": (5, "bool"), **_primitive(6)}

_MESSAGES: dict[str, Message] = {
    "Document": (
        {
            "swagger": (1, "string"),
            "info": (2, "Info"),
            "host": (3, "string"),
            "basePath": (4, "string"),
            "schemes": (5, ("repeated", "string")),
            "consumes": (6, ("repeated", "string")),
            "produces": (7, ("repeated", "string")),
            "paths": (8, "Paths"),
            "definitions": (9, ("map", "Schema")),
            "parameters": (10, ("map", "Parameter")),
            "responses": (11, ("map", "Response")),
            "security": (12, ("repeated", ("map", "StringArray"))),
            "securityDefinitions": (13, ("map", "SecurityDefinitionsItem")),
            "tags": (14, ("repeated", "Tag")),
            "externalDocs": (15, "ExternalDocs"),
        },
        16,
    ),
    "Info": (
        {
            "title": (1, "string"),
            "version": (2, "string"),
            "description": (3, "string"),
            "termsOfService": (4, "string"),
            "contact": (5, "Contact"),
            "license": (6, "License"),
        },
        7,
    ),
    "Contact": ({"name": (1, "string"), "url": (2, "string"), "email": (3, "string")}, 4),
    "License": ({"name": (1, "string"), "url": (2, "string")}, 3),
    "ExternalDocs": ({"description": (1, "string"), "url": (2, "string")}, 3),
    "Tag": (
        {"name": (1, "string"), "description": (2, "string"), "externalDocs": (3, "ExternalDocs")},
        4,
    ),
    "JsonReference": ({"$ref": (1, "string"), "description": (2, "string")}, None),
    "PathItem": (
        {
            "$ref": (1, "string"),
            "get": (2, "Operation"),
            "put": (3, "Operation"),
            "post": (4, "Operation"),
            "delete": (5, "Operation"),
            "options": (6, "Operation"),
            "head": (7, "Operation"),
            "patch": (8, "Operation"),
            "parameters": (9, ("repeated", "ParametersItem")),
        },
        10,
    ),
    "Operation": (
        {
            "tags": (1, ("repeated", "string")),
            "summary": (2, "string"),
            "description": (3, "string"),
            "externalDocs": (4, "ExternalDocs"),
            "operationId": (5, "string"),
            "produces": (6, ("repeated", "string")),
            "consumes": (7, ("repeated", "string")),
            "parameters": (8, ("repeated", "ParametersItem")),
            "responses": (9, "Responses"),
            "schemes": (10, ("repeated", "string")),
            "deprecated": (11, "bool"),
            "security": (12, ("repeated", ("map", "StringArray"))),
        },
        13,
    ),
    "BodyParameter": (
        {
            "description": (1, "string"),
            "name": (2, "string"),
            "in": (3, "string"),
            "required": (4, "bool"),
            "schema": (5, "Schema"),
        },
        6,
    ),
    "HeaderParameterSubSchema": ({**_PARAMETER_HEAD, **_primitive(5)}, 22),
    "PathParameterSubSchema": ({**_PARAMETER_HEAD, **_primitive(5)}, 22),
    "FormDataParameterSubSchema": (_PARAMETER_WITH_EMPTY, 23),
    "QueryParameterSubSchema": (_PARAMETER_WITH_EMPTY, 23),
    "PrimitivesItems": (_primitive(1), 18),
    "Header": ({**_primitive(1), "description": (18, "string")}, 19),
    "Response": (
        {
            "description": (1, "string"),
            "schema": (2, "SchemaItem"),
            "headers": (3, ("map", "Header")),
            "examples": (4, ("map", "any")),
        },
        5,
    ),
    "Schema": (
        {
            "$ref": (1, "string"),
            "format": (2, "string"),
            "title": (3, "string"),
            "description": (4, "string"),
            "default": (5, "any"),
            "multipleOf": (6, "double"),
            "maximum": (7, "double"),
            "exclusiveMaximum": (8, "bool"),
            "minimum": (9, "double"),
            "exclusiveMinimum": (10, "bool"),
            "maxLength": (11, "int64"),
            "minLength": (12, "int64"),
            "pattern": (13, "string"),
            "maxItems": (14, "int64"),
            "minItems": (15, "int64"),
            "uniqueItems": (16, "bool"),
            "maxProperties": (17, "int64"),
            "minProperties": (18, "int64"),
            "required": (19, ("repeated", "string")),
            "enum": (20, ("repeated", "any")),
            "additionalProperties": (21, "AdditionalPropertiesItem"),
            "type": (22, "TypeItem"),
            "items": (23, "ItemsItem"),
            "allOf": (24, ("repeated", "Schema")),
            "properties": (25, ("map", "Schema")),
            "discriminator": (26, "string"),
            "readOnly": (27, "bool"),
            "xml": (28, "Xml"),
            "externalDocs": (29, "ExternalDocs"),
            "example": (30, "any"),
        },
        31,
    ),
    "FileSchema": (
        {
            "format": (1, "string"),
            "title": (2, "string"),
            "description": (3, "string"),
            "default": (4, "any"),
            "required": (5, ("repeated", "string")),
            "type": (6, "string"),
            "readOnly": (7, "bool"),
            "externalDocs": (8, "ExternalDocs"),
            "example": (9, "any"),
        },
        10,
    ),
    "Xml": (
        {
            "name": (1, "string"),
            "namespace": (2, "string"),
            "prefix": (3, "string"),
            "attribute": (4, "bool"),
            "wrapped": (5, "bool"),
        },
        6,
    ),
    "BasicAuthenticationSecurity": ({"type": (1, "string"), "description": (2, "string")}, 3),
    "ApiKeySecurity": (
        {
            "type": (1, "string"),
            "name": (2, "string"),
            "in": (3, "string"),
            "description": (4, "string"),
        },
        5,
    ),
    "Oauth2ImplicitSecurity": (
        {
            "type": (1, "string"),
            "flow": (2, "string"),
            "scopes": (3, ("map", "string")),
            "authorizationUrl": (4, "string"),
            "description": (5, "string"),
        },
        6,
    ),
    "Oauth2PasswordSecurity": (
        {
            "type": (1, "string"),
            "flow": (2, "string"),
            "scopes": (3, ("map", "string")),
            "tokenUrl": (4, "string"),
            "description": (5, "string"),
        },
        6,
    ),
    "Oauth2AccessCodeSecurity": (
        {
            "type": (1, "string"),
            "flow": (2, "string"),
            "scopes": (3, ("map", "string")),
            "authorizationUrl": (4, "string"),
            "tokenUrl": (5, "string"),
            "description": (6, "string"),
        },
        7,
    ),
}
_MESSAGES["Oauth2ApplicationSecurity"] = _MESSAGES["Oauth2PasswordSecurity"]

# Fields in number order, vendor extensions (key None) in their place: the order Go's
# marshalling writes them in.
_ORDERED: dict[str, list[tuple[int, str | None, FieldType]]] = {
    name: sorted(
        [(number, key, kind) for key, (number, kind) in fields.items()]
        + ([(extensions, None, "any")] if extensions is not None else [])
    )
    for name, (fields, extensions) in _MESSAGES.items()
}


def _body(name: str, value: Any) -> bytes:
    """The bytes of message `name` (without its tag and length) for a JSON value."""
    custom = _CUSTOM.get(name)
    if custom is not None:
        out = bytearray()
        custom(out, value)
        return bytes(out)
    obj = _expect(value, dict, name)
    out = bytearray()
    for number, key, kind in _ORDERED[name]:
        if key is None:
            for k, v in obj.items():
                if isinstance(k, str) and k.startswith("x-"):
                    _named(out, number, k, "any", v)
        elif key in obj:
            _field(out, number, kind, obj[key])
    return bytes(out)


def _field(out: bytearray, number: int, kind: FieldType, value: Any) -> None:
    if isinstance(kind, tuple):
        how, item = kind
        if how == "repeated":
            for v in _expect(value, list, "list"):
                _field(out, number, item, v)
        else:  # a map: Named pairs in field 1 of a message of their own
            inner = bytearray()
            for k, v in _expect(value, dict, "object").items():
                _named(inner, 1, k, item, v)
            _delimited(out, number, inner)
    elif kind == "string":
        if _expect(value, str, "string"):
            _delimited(out, number, value.encode())
    elif kind == "bool":
        if _expect(value, bool, "boolean"):
            _tag(out, number, 0)
            out.append(1)
    elif kind == "int64":
        n = _integer(value)
        if n:
            _tag(out, number, 0)
            _varint(out, n)
    elif kind == "double":
        x = _number(value)
        if x:
            _tag(out, number, 1)
            out += struct.pack("<d", x)
    elif kind == "any":
        inner = bytearray()
        _delimited(inner, 2, yaml_text(value).encode())  # Any.yaml; Any.value stays unset
        _delimited(out, number, inner)
    else:
        _delimited(out, number, _body(kind, value))


def _named(out: bytearray, number: int, name: str, kind: FieldType, value: Any) -> None:
    inner = bytearray()
    _field(inner, 1, "string", name)
    _field(inner, 2, kind, value)
    _delimited(out, number, inner)


def _expect(value: Any, types: type | tuple[type, ...], what: str) -> Any:
    if not isinstance(value, types) or (types is not bool and isinstance(value, bool)):
        raise ValueError(f"OpenAPI v2: {what} expected, got {value!r:.80}")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return _expect(value, int, "integer")


def _number(value: Any) -> float:
    return float(_expect(value, (int, float), "number"))


# --- oneofs and other messages without a table -----------------------------------


def _string_array(out: bytearray, value: Any) -> None:
    _field(out, 1, ("repeated", "string"), value)


def _type_item(out: bytearray, value: Any) -> None:
    _field(out, 1, ("repeated", "string"), value if isinstance(value, list) else [value])


def _items_item(out: bytearray, value: Any) -> None:
    _field(out, 1, ("repeated", "Schema"), value if isinstance(value, list) else [value])


def _additional_properties(out: bytearray, value: Any) -> None:
    if isinstance(value, bool):
        _tag(out, 2, 0)  # a oneof member is written even when false
        out.append(int(value))
    else:
        _field(out, 1, "Schema", value)


def _schema_item(out: bytearray, value: Any) -> None:
    # gnostic takes a response schema for a FileSchema when its type is "file".
    is_file = isinstance(value, dict) and value.get("type") == "file"
    _field(out, 2 if is_file else 1, "FileSchema" if is_file else "Schema", value)


def _reference_or(message: str) -> Callable[[bytearray, Any], None]:
    def encode(out: bytearray, value: Any) -> None:
        if isinstance(value, dict) and "$ref" in value:
            _field(out, 2, "JsonReference", value)
        else:
            _field(out, 1, message, value)

    return encode


_NON_BODY = {
    "header": (1, "HeaderParameterSubSchema"),
    "formData": (2, "FormDataParameterSubSchema"),
    "query": (3, "QueryParameterSubSchema"),
    "path": (4, "PathParameterSubSchema"),
}


def _parameter(out: bytearray, value: Any) -> None:
    where = _expect(value, dict, "parameter").get("in")
    if where == "body":
        _field(out, 1, "BodyParameter", value)
        return
    if where not in _NON_BODY:
        raise ValueError(f"OpenAPI v2: parameter 'in' must be body or one of {list(_NON_BODY)}")
    number, message = _NON_BODY[where]
    inner = bytearray()
    _field(inner, number, message, value)
    _delimited(out, 2, inner)  # NonBodyParameter


_OAUTH2_FLOWS = {
    "implicit": (3, "Oauth2ImplicitSecurity"),
    "password": (4, "Oauth2PasswordSecurity"),
    "application": (5, "Oauth2ApplicationSecurity"),
    "accessCode": (6, "Oauth2AccessCodeSecurity"),
}


def _security_definition(out: bytearray, value: Any) -> None:
    obj = _expect(value, dict, "security definition")
    kind = obj.get("type")
    if kind == "basic":
        _field(out, 1, "BasicAuthenticationSecurity", obj)
    elif kind == "apiKey":
        _field(out, 2, "ApiKeySecurity", obj)
    elif kind == "oauth2" and obj.get("flow") in _OAUTH2_FLOWS:
        number, message = _OAUTH2_FLOWS[obj["flow"]]
        _field(out, number, message, obj)
    else:
        raise ValueError(f"OpenAPI v2: unknown security definition {kind!r}")


def _keyed(names: int, extensions: int, kind: FieldType) -> Callable[[bytearray, Any], None]:
    """Paths and Responses: their own keys and `x-` keys side by side in one object."""

    def encode(out: bytearray, value: Any) -> None:
        obj = _expect(value, dict, "object")
        for number in sorted((names, extensions)):
            for k, v in obj.items():
                if k.startswith("x-") == (number == extensions):
                    _named(out, number, k, "any" if number == extensions else kind, v)

    return encode


# Messages not written from a table: oneofs, lists given as one value or many, objects
# holding names and `x-` keys side by side, and StringArray's bare list.
_CUSTOM: dict[str, Callable[[bytearray, Any], None]] = {
    "StringArray": _string_array,
    "TypeItem": _type_item,
    "ItemsItem": _items_item,
    "AdditionalPropertiesItem": _additional_properties,
    "SchemaItem": _schema_item,
    "Parameter": _parameter,
    "ParametersItem": _reference_or("Parameter"),
    "ResponseValue": _reference_or("Response"),
    "SecurityDefinitionsItem": _security_definition,
    "Paths": _keyed(2, 1, "PathItem"),
    "Responses": _keyed(1, 2, "ResponseValue"),
}


# --- YAML text of Any values ---------------------------------------------------------


class _Yaml11Dumper(yaml.SafeDumper):
    """PyYAML's YAML 1.1, plus the booleans gopkg.in/yaml.v2 (what kube-openapi reads
    these with) also knows: y, n.  A string that reads back as something else is
    quoted, so "y" stays a string."""


_Yaml11Dumper.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
)


def yaml_text(value: Any) -> str:
    """`value` as a YAML document in block style, as gnostic writes an `Any`.

    Strings that YAML 1.1 would take for something else ("on", "no", "~", "1.5")
    come out quoted."""
    return yaml.dump(
        value, Dumper=_Yaml11Dumper, default_flow_style=False, sort_keys=False, allow_unicode=True
    )
