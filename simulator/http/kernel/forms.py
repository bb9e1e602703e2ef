"""multipart/form-data bodies, checked against the operation's form schema: required fields
present, integer/boolean fields typed. Files are kept as bytes (bounded by the app's
client_max_size)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp.http_exceptions import HttpProcessingError

from .envelope import ApiError
from .jsonbody import scrub
from .validation import DOCUMENTS


@dataclass(frozen=True)
class FormFile:
    filename: str
    content_type: str
    data: bytes


def _form_schema(ctx) -> dict:
    body = ctx.op.spec.get("requestBody") or {}
    schema = body.get("content", {}).get("multipart/form-data", {}).get("schema", {})
    if "$ref" in schema:
        doc = DOCUMENTS[ctx.op.document][1]()
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


async def read_form(ctx) -> dict:
    """{field: str | int | bool | FormFile | [FormFile, ...]}; a field sent twice becomes a
    list. 400 when the body is not multipart or misses a required field."""
    request = ctx.request
    if not request.content_type.startswith("multipart/"):
        raise ApiError(400, "Expected a multipart/form-data body")
    fields: dict = {}
    try:
        reader = await request.multipart()
        async for part in reader:
            if part.name is None:
                continue
            if part.filename is not None:
                value = FormFile(scrub(part.filename), scrub(part.headers.get("Content-Type")
                                 or "application/octet-stream"), await part.read(decode=False))
            else:
                value = await part.text()
            if part.name in fields:
                previous = fields[part.name]
                fields[part.name] = [*previous, value] if isinstance(previous, list) \
                    else [previous, value]
            else:
                fields[part.name] = value
    except (ValueError, AssertionError, KeyError) as exc:
        raise ApiError(400, f"Malformed multipart body: {exc}") from exc
    schema = _form_schema(ctx)
    for name in schema.get("required", []):
        if name not in fields:
            raise ApiError(400, f"Missing multipart field: {name}")
    for name, prop in schema.get("properties", {}).items():
        if name not in fields or isinstance(fields[name], (FormFile, list)):
            continue
        raw = fields[name]
        if prop.get("type") == "integer":
            try:
                fields[name] = int(raw)
            except ValueError:
                raise ApiError(400, f"Invalid multipart field {name}: not an integer") from None
            if "minimum" in prop and fields[name] < prop["minimum"]:
                raise ApiError(400, f"Invalid multipart field {name}: below {prop['minimum']}")
        elif prop.get("type") == "boolean":
            lowered = raw.strip().lower()
            if lowered not in ("true", "false", "1", "0"):
                raise ApiError(400, f"Invalid multipart field {name}: not a boolean")
            fields[name] = lowered in ("true", "1")
        elif prop.get("format") == "binary" and isinstance(raw, str):
            fields[name] = FormFile(name, "application/octet-stream", raw.encode())
    return fields


def files_of(value) -> list[FormFile]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


async def form_of(ctx) -> dict:
    """read_form, with aiohttp's own multipart parse errors (a bad part header) as 400 too."""
    try:
        return await read_form(ctx)
    except HttpProcessingError as exc:
        raise ApiError(400, f"Malformed multipart body: {exc.message}") from exc
