"""What the security checks share: one bounded request with its wire log, throwaway keys and
JWTs (always cleaned up; the run's own credentials are never revoked or logged out), one
read-only operation per seed-004 tag family, and the verdict on a credential that must be
refused."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

import aiohttp
from yarl import URL

from conformance.bootstrap import DEVELOPER_SCOPES
from conformance.clients.http import HttpResult, arequest
from conformance.clients.transcript import Transcript
from conformance.contract import load_yaml
from conformance.outcomes import NotConfigured, SuiteError
from conformance.scenario import run

# reads that reach the outside world or stream without end: never one family's sample
NOT_SAMPLED = {"streamLiveLogs", "checkUpdate", "listReleases", "listPluginMarket",
               "listPluginMarketCategories", "getPublicVersions", "getStartTime"}


def call(target, transcript: Transcript, method: str, path: str, *, headers=None,
         body=None, query: str = "") -> HttpResult:
    return run(arequest(method, target.http_url(path) + query, timeout=target.timeout,
                        transcript=transcript, headers=headers, json_body=body), target)


async def raw_get(session: aiohttp.ClientSession, target, transcript: Transcript,
                  path_and_query: str, headers: dict) -> HttpResult:
    """A GET whose path and query go out byte for byte (`%2f`, `..` kept: no normalising),
    bounded by the target timeout; a network failure is the suite's (ERROR)."""
    url = URL(target.http_url(path_and_query), encoded=True)
    transcript.add(">>", {"method": "GET", "url": str(url), "headers": headers, "json": None})
    limit = aiohttp.ClientTimeout(total=target.timeout * 2, sock_connect=target.timeout,
                                  sock_read=target.timeout)
    try:
        async with session.get(url, headers=headers, timeout=limit) as resp:
            text = await resp.text(errors="replace")
            result = HttpResult(resp.status, dict(resp.headers), text, _json(text))
    except (TimeoutError, aiohttp.ClientError) as exc:
        transcript.note(f"no answer: {exc!r}")
        raise SuiteError(f"GET {path_and_query[:80]}: no answer ({exc!r})") from exc
    transcript.add("<<", {"status": result.status, "body": text[:4000]})
    return result


def _json(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def ok_data(result: HttpResult):
    body = result.json
    if 200 <= result.status < 300 and isinstance(body, dict) and body.get("status") == "ok":
        return body.get("data")
    return None


def served(result: HttpResult) -> bool:
    """The target did the operation: 2xx and not an error envelope."""
    body = result.json if isinstance(result.json, dict) else {}
    return 200 <= result.status < 300 and body.get("status") != "error"


def said(result: HttpResult) -> str:
    message = result.envelope_message() if isinstance(result.json, dict) else None
    text = message if isinstance(message, str) else " ".join(result.text.split())[:120]
    return f"HTTP {result.status} {text!r}"


# throwaway credentials -------------------------------------------------------------------------
@dataclass
class Throwaway:
    raw: str
    key_id: str


def fresh_key(target, creds, transcript: Transcript, what: str,
              scopes=DEVELOPER_SCOPES) -> Throwaway:
    """A new key with `scopes`, created with the run's JWT (NotConfigured without one)."""
    jwt = bearer(creds.require_jwt())
    made = call(target, transcript, "POST", "/api/v1/api-keys", headers=jwt,
                body={"name": f"conformance-sec-{what}", "scopes": list(scopes)})
    data = ok_data(made)
    if not isinstance(data, dict) or not isinstance(data.get("api_key"), str):
        raise SuiteError(f"could not create a throwaway key: {said(made)}")
    creds.remember_key(data["api_key"])
    return Throwaway(data["api_key"], str(data.get("key_id")))


def drop_key(target, creds, transcript: Transcript, key: Throwaway) -> None:
    """Delete a throwaway key (best effort: a key already deleted answers 404)."""
    if key.key_id in creds.key_ids.values():
        raise SuiteError("refusing to delete one of the run's own keys")
    call(target, transcript, "DELETE", f"/api/v1/api-keys/{key.key_id}",
         headers=bearer(creds.require_jwt()))


def fresh_jwt(target, creds, transcript: Transcript) -> str:
    """A second dashboard JWT, logged in with the run's login; never the run's own token."""
    if not creds.login:
        raise NotConfigured("this check logs in a JWT of its own: give --username and "
                            "--password (a --jwt alone cannot be logged in again)")
    creds.require_jwt()
    username, password = creds.login
    for attempt in range(2):
        result = call(target, transcript, "POST", "/api/v1/auth/login",
                      body={"username": username, "password": password})
        data = ok_data(result)
        token = data.get("token") if isinstance(data, dict) else None
        if not isinstance(token, str):
            raise SuiteError(f"logging in a second JWT failed: {said(result)}")
        creds.redactor.add(token)
        if token != creds.jwt:
            return token
        if attempt == 0:  # issued in the same second with the same claims: wait for another
            time.sleep(1.1)
    raise SuiteError("the target issued the run's own JWT again: logging it out would end the "
                     "run's session, so the check does not")


# one read-only operation per tag family ----------------------------------------------------------
@dataclass(frozen=True)
class Read:
    tag: str
    path: str
    operation_id: str
    scope: str | None

    @property
    def jwt_only(self) -> bool:
        return self.scope not in DEVELOPER_SCOPES


def family_reads() -> list[Read]:
    """For every seed-004 tag, its first GET without path or required query parameters that
    needs a credential (so a refusal is what a stale credential must get)."""
    picked: dict[str, Read] = {}
    for path, item in load_yaml("openapi-v1.yaml")["paths"].items():
        op = item.get("get")
        if not op or op.get("x-websocket") or "{" in path or op.get("security") == []:
            continue
        if op["operationId"] in NOT_SAMPLED or any(
                isinstance(p, dict) and p.get("required") for p in op.get("parameters", [])):
            continue
        tag = (op.get("tags") or ["?"])[0]
        picked.setdefault(tag, Read(tag, path, op["operationId"], op.get("x-astrbot-scope")))
    return list(picked.values())


def refusal_problem(read: Read, result: HttpResult) -> str | None:
    """None when a stale or forged credential was refused (401/403, or the route is absent),
    else what the target did instead."""
    if result.status in (401, 403):
        return None
    if result.status in (404, 405) and not served(result):
        return None  # no such route on this target: nothing was served
    return f"{read.tag} ({read.operation_id} GET {read.path}): {said(result)}, not refused"


def probe_reads(target, transcript: Transcript, headers: dict) -> list[tuple[Read, HttpResult]]:
    """Every family's read with `headers`, one after the other (each bounded)."""
    reads = family_reads()

    async def go():
        async with aiohttp.ClientSession() as session:
            return [await arequest("GET", target.http_url(r.path), timeout=target.timeout,
                                   transcript=transcript, headers=headers, session=session)
                    for r in reads]

    return list(zip(reads, run(go(), target, waits=len(reads) + 1), strict=True))


def fresh_user(kind: str) -> str:
    return f"conformance-sec-{kind}-{uuid.uuid4().hex[:8]}"
