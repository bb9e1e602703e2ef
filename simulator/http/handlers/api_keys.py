"""/api/v1/api-keys: create, list, revoke, delete (seed 004 tag API Keys; scope `system`, so
only the dashboard JWT manages keys). The raw key is returned once, at creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ...auth import key_expired, normalize_scopes, now_iso
from ...store import ApiKeyRecord
from ..kernel.envelope import ApiError
from ..kernel.router import Ctx, Operations

operation = Operations()


def key_view(rec: ApiKeyRecord) -> dict:
    return {
        "key_id": rec.key_id,
        "name": rec.name,
        "key_prefix": rec.key_prefix,
        "scopes": list(rec.scopes),
        "created_by": rec.created_by,
        "created_at": rec.created_at,
        "updated_at": rec.updated_at,
        "last_used_at": rec.last_used_at,
        "expires_at": rec.expires_at,
        "revoked_at": rec.revoked_at,
        "is_revoked": rec.revoked_at is not None,
        "is_expired": key_expired(rec),
    }


# the contract bounds a lifetime below only (`expires_in_days` minimum 1): one that ends past the
# last instant a date-time can spell is valid until then
LAST_INSTANT = datetime.max.replace(tzinfo=UTC)


def _expiry(body: dict) -> str | None:
    if "expires_in_days" in body:
        if body["expires_in_days"] < 1:  # the schema's minimum, kept here too
            raise ApiError(400, "expires_in_days must be at least 1")
        try:
            return (datetime.now(UTC) + timedelta(days=body["expires_in_days"])).isoformat()
        except OverflowError:  # past year 9999
            return LAST_INSTANT.isoformat()
    if "expires_at" in body:
        try:
            when = datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise ApiError(400, f"expires_at is not an ISO 8601 date-time: {exc}") from exc
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if when <= datetime.now(UTC):  # a key born expired is a mistake, not a key (issue 15)
            raise ApiError(400, "expires_at must be in the future")
        try:
            return when.astimezone(UTC).isoformat()
        except OverflowError:  # past year 9999 once in UTC
            return LAST_INSTANT.isoformat()
    return None


@operation("createApiKey")
async def create_key(ctx: Ctx):
    body = ctx.body
    scopes = body.get("scopes")
    if scopes is not None and not scopes:
        raise ApiError(400, "At least one valid scope is required")
    raw, rec = ctx.sim.auth.create_key(
        name=body["name"], scopes=normalize_scopes(scopes),
        created_by=ctx.principal.username, expires_at=_expiry(body),
    )
    return {**key_view(rec), "api_key": raw}


@operation("listApiKeys")
async def list_keys(ctx: Ctx):
    return [key_view(rec) for rec in ctx.sim.store.list_keys()]


def _key_or_404(ctx: Ctx) -> ApiKeyRecord:
    rec = ctx.sim.store.key_by_id(ctx.param("key_id"))
    if rec is None:
        raise ApiError(404, "API key not found")
    return rec


@operation("revokeApiKey")
async def revoke_key(ctx: Ctx):
    rec = _key_or_404(ctx)
    if rec.revoked_at is None:
        stamp = now_iso()
        ctx.sim.store.update_key(rec, revoked_at=stamp, updated_at=stamp)
    return key_view(rec)


@operation("deleteApiKey")
async def delete_key(ctx: Ctx):
    ctx.sim.store.delete_key(_key_or_404(ctx))
    return {}
