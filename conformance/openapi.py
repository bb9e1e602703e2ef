"""Schemas of the v1 OpenAPI document (seed 004), for judging HTTP responses."""

from __future__ import annotations

import functools

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from .contract import load_yaml

SPEC_URI = "urn:astrbot:openapi-v1"


@functools.cache
def component_validator(name: str) -> Draft202012Validator:
    doc = load_yaml("openapi-v1.yaml")
    registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(doc, default_specification=DRAFT202012))
    return Draft202012Validator({"$ref": f"{SPEC_URI}#/components/schemas/{name}"},
                                registry=registry)


def envelope_problem(body, schema: str) -> str | None:
    """None when `body` validates against components/schemas/<schema>, else the first error."""
    errors = sorted(component_validator(schema).iter_errors(body), key=lambda e: e.path)
    if not errors:
        return None
    first = errors[0]
    where = "/".join(map(str, first.absolute_path)) or "(body)"
    return f"{where}: {first.message} in {str(body)[:200]}"
