"""Seed 004 tag Cron: the cron job collection (CRUD from domain/resources.py) and a run on
demand (simulated: recorded, nothing executes)."""

from __future__ import annotations

from ..domain.resources import CRON_JOBS
from ..kernel.clock import now_iso
from ..kernel.router import Ctx, Operations

operation = Operations()
operation.crud(CRON_JOBS, {
    "listCronJobs": "list", "createCronJob": "create", "updateCronJob": "merge",
    "deleteCronJob": "delete"})


# -- cron ---------------------------------------------------------------------------------------
@operation("runCronJob")
async def run_cron_job(ctx: Ctx):
    """Run now: the job records the run (count, time, status); its schedule is unchanged."""
    rid, job = CRON_JOBS.existing(ctx)
    count = job["run_count"] if type(job.get("run_count")) is int else 0
    job = {**job, "run_count": count + 1, "last_run_at": now_iso(),
           "last_run_status": "succeeded"}
    return CRON_JOBS.save(ctx, rid, job)
