"""Deterministic background tasks for the operations that would reach the outside world in
AstrBot (core/dashboard update, pip install, plugin install from GitHub or a URL, ModelScope
sync, backups, knowledge imports, restart). Nothing runs: a task is a persisted record that
advances one step each time its progress is read, so a client's polling loop sees
pending -> running ... -> completed in the same order on every run."""

from __future__ import annotations

import uuid

from .clock import now_iso
from .envelope import ApiError

KIND = "task"


def start(store, kind: str, steps: int = 2, result=None, task_id: str | None = None,
          **detail) -> dict:
    """Record a task that completes after `steps` progress reads, under the client's own
    `task_id` when it names one (a taken id is a 409); returns it."""
    if task_id is not None and store.get_resource(KIND, task_id) is not None:
        raise ApiError(409, f"Task {task_id} already exists")
    task = {"task_id": task_id or uuid.uuid4().hex, "type": kind, "status": "pending",
            "progress": 0, "steps_done": 0, "steps": max(1, steps), "detail": detail,
            "result": None, "_result": result, "created_at": now_iso()}
    store.put_resource(KIND, task["task_id"], task, task["created_at"])
    return public(task)


def advance(store, task_id: str, kind: str | tuple[str, ...] | None = None) -> dict:
    """Read a task's progress, moving it one step on; 404 for an unknown id (or a kind not
    among `kind`)."""
    task = store.get_resource(KIND, task_id)
    kinds = (kind,) if isinstance(kind, str) else kind
    if task is None or (kinds is not None and task["type"] not in kinds):
        raise ApiError(404, f"Task {task_id} not found")
    if task["status"] != "completed":
        task["steps_done"] += 1
        done = task["steps_done"] >= task["steps"]
        task["status"] = "completed" if done else "running"
        task["progress"] = 100 if done else int(100 * task["steps_done"] / task["steps"])
        if done:
            task["result"] = task["_result"]
        store.put_resource(KIND, task_id, task, task["created_at"])
    return public(task)


def public(task: dict) -> dict:
    return {k: v for k, v in task.items() if not k.startswith("_")}
