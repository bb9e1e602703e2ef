"""Skills: the Shipyard Neo release flow (simulated: records in the store). Three fixed
candidates are seeded once; candidate: pending -> evaluated -> promoted (needs a passed
evaluation, else 409), creating release v<n> of its skill_key at `stage` (stable | canary), the
active one; rollback of the active release reactivates the newest superseded earlier one; sync
writes the payload into `data_dir/skills/<skill_key>/`; deleting what a release refers to, or
the active release, is 409."""

from __future__ import annotations

import hashlib

from ...domain.skill_store import SKILL_FILE, check_name, commit, root_of, stage
from ...kernel.clock import now_iso
from ...kernel.envelope import ApiError
from ...kernel.router import Ctx, Operations

operation = Operations()


# Shipyard Neo ----------------------------------------------------------------------------------
CANDIDATE, RELEASE, PAYLOAD = "neo candidate", "neo release", "neo payload"


STAGES = ("stable", "canary")
NEO_SEED = (  # candidate_id, skill_key, description, instructions
    ("cand-weather-report-1", "weather-report", "Report the current weather for a city.",
     "1. Ask for the city if it is missing.\n2. Call the weather tool.\n"
     "3. Answer in one sentence."),
    ("cand-weather-report-2", "weather-report", "Report the weather and a three-day forecast.",
     "1. Ask for the city if it is missing.\n2. Call the weather tool for today and the next "
     "three days.\n3. Answer with one line per day."),
    ("cand-csv-summary-1", "csv-summary", "Summarise a CSV file: columns, rows, outliers.",
     "1. Read the header row.\n2. Count rows and empty cells.\n3. Report the columns and any "
     "outliers."),
)


def neo(ctx: Ctx):
    """The store, with the fixed candidates seeded on first use."""
    store = ctx.sim.store
    if store.setting("neo_seeded") is None:
        now = now_iso()
        for candidate_id, key, description, steps in NEO_SEED:
            ref = f"payload-{candidate_id}"
            text = f"---\nname: {key}\ndescription: {description}\n---\n\n# {key}\n\n{steps}\n"
            store.put_resource(PAYLOAD, ref, {"payload_ref": ref, "skill_key": key,
                                              "files": {SKILL_FILE: text}}, now)
            store.put_resource(CANDIDATE, candidate_id, {
                "candidate_id": candidate_id, "skill_key": key, "description": description,
                "status": "pending", "payload_ref": ref, "evaluation": None, "release_id": None,
                "created_at": now, "updated_at": now}, now)
        store.set_setting("neo_seeded", "1")
    return store


def neo_get(store, kind: str, rid: str) -> dict:
    found = store.get_resource(kind, rid)
    if found is None:
        raise ApiError(404, f"{kind} {rid} not found")
    return found


def neo_put(store, kind: str, rid: str, item: dict) -> dict:
    item["updated_at"] = now_iso()
    store.put_resource(kind, rid, item, item["created_at"])
    return item


def releases_of(store, key: str, stage_name: str) -> list[dict]:
    return [r for r in store.list_resources(RELEASE)
            if r["skill_key"] == key and r["stage"] == stage_name]


@operation("listNeoSkillCandidates")
async def list_candidates(ctx: Ctx):
    items = [c for c in neo(ctx).list_resources(CANDIDATE)
             if ctx.query.get("skill_key") in (None, "", c["skill_key"])
             and ctx.query.get("status") in (None, "", c["status"])]
    return {"items": items, "total": len(items)}


@operation("listNeoSkillReleases")
async def list_releases(ctx: Ctx):
    items = [r for r in neo(ctx).list_resources(RELEASE)
             if ctx.query.get("skill_key") in (None, "", r["skill_key"])
             and ctx.query.get("stage") in (None, "", r["stage"])]
    return {"items": items, "total": len(items)}


@operation("getNeoSkillPayload")
async def get_payload(ctx: Ctx):
    return neo_get(neo(ctx), PAYLOAD, ctx.query["payload_ref"])


@operation("evaluateNeoSkillCandidate")
async def evaluate(ctx: Ctx):
    store, body = neo(ctx), ctx.body
    candidate = neo_get(store, CANDIDATE, body["candidate_id"])
    if candidate["status"] == "promoted":
        raise ApiError(409, f"Candidate {candidate['candidate_id']} is already promoted")
    digest = hashlib.sha256(candidate["candidate_id"].encode()).digest()
    passed = body.get("passed", True)
    score = body.get("score", round(0.6 + digest[0] % 40 / 100, 2))
    report = body.get("report", f"{candidate['skill_key']}: simulated evaluation, 3/3 checks")
    if not isinstance(passed, bool) or not isinstance(report, str) \
            or isinstance(score, bool) or not isinstance(score, int | float) \
            or not 0 <= score <= 1:
        raise ApiError(400, "passed must be a boolean, score a number in 0..1, report a string")
    candidate["evaluation"] = {"passed": passed, "score": score, "report": report,
                               "evaluated_at": now_iso()}
    candidate["status"] = "evaluated"
    return neo_put(store, CANDIDATE, candidate["candidate_id"], candidate)


@operation("promoteNeoSkillCandidate")
async def promote(ctx: Ctx):
    store, body = neo(ctx), ctx.body
    candidate = neo_get(store, CANDIDATE, body["candidate_id"])
    stage_name = body.get("stage", "stable")
    if stage_name not in STAGES:
        raise ApiError(400, f"stage must be one of {', '.join(STAGES)}")
    if candidate["status"] != "evaluated" or not candidate["evaluation"]["passed"]:
        raise ApiError(409, f"Candidate {candidate['candidate_id']} is {candidate['status']}: "
                            "only a candidate with a passed evaluation can be promoted")
    key = candidate["skill_key"]
    counter = f"neo_release_seq:{key}:{stage_name}"
    version = int(store.setting(counter) or 0) + 1
    store.set_setting(counter, str(version))
    for previous in releases_of(store, key, stage_name):
        if previous["status"] == "active":
            neo_put(store, RELEASE, previous["release_id"],
                    {**previous, "status": "superseded", "active": False})
    now = now_iso()
    release_id = f"rel-{key}-{stage_name}-{version}"
    release = {"release_id": release_id, "skill_key": key, "stage": stage_name,
               "version": version, "candidate_id": candidate["candidate_id"],
               "payload_ref": candidate["payload_ref"], "status": "active", "active": True,
               "synced_at": None, "created_at": now, "updated_at": now}
    store.put_resource(RELEASE, release_id, release, now)
    neo_put(store, CANDIDATE, candidate["candidate_id"],
            {**candidate, "status": "promoted", "release_id": release_id})
    return release


@operation("rollbackNeoSkillRelease")
async def rollback(ctx: Ctx):
    store = neo(ctx)
    release = neo_get(store, RELEASE, ctx.body["release_id"])
    if release["status"] != "active":
        raise ApiError(409, f"Release {release['release_id']} is {release['status']}, not active")
    release = neo_put(store, RELEASE, release["release_id"],
                      {**release, "status": "rolled_back", "active": False})
    earlier = [r for r in releases_of(store, release["skill_key"], release["stage"])
               if r["status"] == "superseded" and r["version"] < release["version"]]
    restored = None
    if earlier:
        newest = max(earlier, key=lambda r: r["version"])
        restored = neo_put(store, RELEASE, newest["release_id"],
                           {**newest, "status": "active", "active": True})
    return {"rolled_back": release, "active": restored}


@operation("syncNeoSkillRelease")
async def sync(ctx: Ctx):
    store = neo(ctx)
    release = neo_get(store, RELEASE, ctx.body["release_id"])
    if release["status"] == "rolled_back":
        raise ApiError(409, f"Release {release['release_id']} is rolled back")
    payload = neo_get(store, PAYLOAD, release["payload_ref"])
    name = check_name(release["skill_key"])
    files = {rel: text.encode() for rel, text in payload["files"].items()}
    skill = commit(ctx.sim, name, stage(root_of(ctx.sim), files), "neo",
                   neo_release_id=release["release_id"])
    release = neo_put(store, RELEASE, release["release_id"], {**release, "synced_at": now_iso()})
    return {"release": release, "skill": skill}


@operation("deleteNeoSkillCandidate")
async def delete_candidate(ctx: Ctx):
    store = neo(ctx)
    candidate = neo_get(store, CANDIDATE, ctx.body["candidate_id"])
    cid = candidate["candidate_id"]
    if any(r["candidate_id"] == cid for r in store.list_resources(RELEASE)):
        raise ApiError(409, f"Candidate {cid} has releases: delete them first")
    store.delete_resource(CANDIDATE, cid)
    store.delete_resource(PAYLOAD, candidate["payload_ref"])
    return {"candidate_id": cid, "deleted": True}


@operation("deleteNeoSkillRelease")
async def delete_release(ctx: Ctx):
    store = neo(ctx)
    release = neo_get(store, RELEASE, ctx.body["release_id"])
    if release["status"] == "active":
        raise ApiError(409, f"Release {release['release_id']} is active: roll it back first")
    store.delete_resource(RELEASE, release["release_id"])
    return {"release_id": release["release_id"], "deleted": True}
