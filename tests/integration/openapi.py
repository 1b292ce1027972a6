"""Strict validation of a manifest against the OpenAPI (swagger 2) definitions
KubeVirt and CDI publish, as an apiserver with field validation Strict would:
unknown fields, wrong types, missing required fields and bad enums are errors."""
import json
import os
import re

from mtvtest import SOURCE_ROOT

REFERENCE = os.environ.get("MTV_REFERENCE") or os.path.join(os.path.dirname(SOURCE_ROOT), "shared", "reference")
_cache = {}


def definitions(name):
    if name not in _cache:
        with open(os.path.join(REFERENCE, name, "swagger.json")) as f:
            _cache[name] = json.load(f)["definitions"]
    return _cache[name]


QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|[KMGTPE]i?|[munkMGTPE])?$")


def openapi3_schemas(name):
    """The component schemas of an OpenAPI v3 document (Kubernetes' own, e.g.
    kubernetes/batch-v1-openapi.json); refs are #/components/schemas/NAME."""
    key = "v3:" + name
    if key not in _cache:
        with open(os.path.join(REFERENCE, name)) as f:
            _cache[key] = json.load(f)["components"]["schemas"]
    return _cache[key]


def validate(value, schema, defs, path="$", errors=None):
    errors = [] if errors is None else errors
    if "allOf" in schema:  # OpenAPI v3 wraps a described $ref in allOf
        for part in schema["allOf"]:
            validate(value, part, defs, path, errors)
        return errors
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        if ref not in defs:
            errors.append(f"{path}: unknown definition {ref}")
            return errors
        return validate(value, defs[ref], defs, path, errors)
    fmt = schema.get("format")
    typ = schema.get("type")
    if isinstance(typ, list):  # e.g. Quantity: ["string", "integer", "number"]
        simple = {"string": str, "integer": int, "number": (int, float), "boolean": bool}
        if not any(isinstance(value, simple.get(t, object)) for t in typ):
            errors.append(f"{path}: expected one of {typ}")
        return errors
    if fmt == "int-or-string":
        if not isinstance(value, (int, str)):
            errors.append(f"{path}: expected int or string")
        return errors
    if typ == "object" or (typ is None and "properties" in schema):
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object, got {type(value).__name__}")
            return errors
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for k, v in value.items():
            if k in props:
                validate(v, props[k], defs, f"{path}.{k}", errors)
            elif isinstance(extra, dict):
                validate(v, extra, defs, f"{path}.{k}", errors)
            elif not props and extra is None and typ == "object":
                pass  # a free-form object
            else:
                errors.append(f"{path}: unknown field \"{k}\"")
        for r in schema.get("required", []):
            if r not in value:
                errors.append(f"{path}: missing required field \"{r}\"")
    elif typ == "array":
        if not isinstance(value, list):
            errors.append(f"{path}: expected an array")
            return errors
        for i, item in enumerate(value):
            validate(item, schema.get("items", {}), defs, f"{path}[{i}]", errors)
    elif typ == "string":
        if not isinstance(value, str):
            errors.append(f"{path}: expected a string, got {value!r}")
        elif "enum" in schema and value not in schema["enum"]:
            errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    elif typ == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            errors.append(f"{path}: expected an integer, got {value!r}")
    elif typ == "number":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errors.append(f"{path}: expected a number")
    elif typ == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected a boolean, got {value!r}")
    return errors


def check(manifest):
    """Errors of a KubeVirt VirtualMachine or CDI DataVolume manifest ([] when valid)."""
    kind = manifest.get("kind")
    if kind == "VirtualMachine" and manifest.get("apiVersion") == "kubevirt.io/v1":
        defs, root = definitions("kubevirt"), "v1.VirtualMachine"
    elif kind == "DataVolume" and manifest.get("apiVersion") == "cdi.kubevirt.io/v1beta1":
        defs, root = definitions("cdi"), "v1beta1.DataVolume"
    else:
        return [f"unexpected kind {manifest.get('apiVersion')}/{kind}"]
    errors = validate(manifest, defs[root], defs)
    for q in quantities(manifest):
        if not QUANTITY.match(q):
            errors.append(f"quantity {q!r} is not a Kubernetes quantity")
    return errors


def quantities(manifest):
    out = []
    try:
        out.append(manifest["spec"]["storage"]["resources"]["requests"]["storage"])
    except (KeyError, TypeError):
        pass
    try:
        out.append(manifest["spec"]["template"]["spec"]["domain"]["memory"]["guest"])
    except (KeyError, TypeError):
        pass
    return out
