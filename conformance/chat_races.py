"""Chat-mode races on one socket, shared by the Live API socket (`/api/v1/live/ws?ct=chat`,
LIVE-CHAT-007/008) and the unified JWT paths (JWT-UNI-004/005): an `interrupt` during a slow
reply, and a second `send` while a reply streams. Each scenario returns what the socket
received; each judge raises AssertionError with the reason a maintainer reads."""

from __future__ import annotations

import time
import uuid

from conformance.clients.http import TargetTimeout
from conformance.outcomes import SuiteError
from conformance.scenario import require_placed

ENDS = ("end", "complete")


def parts(text: str) -> list[dict]:
    return [{"type": "plain", "text": text}]


def is_error(frame: dict) -> bool:
    return frame.get("t") == "error"


def kind(frame: dict) -> str:
    return str(frame.get("type") or frame.get("t"))


def kinds(frames: list[dict]) -> str:
    """The frame types in order, runs collapsed: `plain x52, complete, end`."""
    runs: list[list] = []
    for frame in frames:
        if runs and runs[-1][0] == kind(frame):
            runs[-1][1] += 1
        else:
            runs.append([kind(frame), 1])
    return ", ".join(name if n == 1 else f"{name} x{n}" for name, n in runs) or "nothing"


def fresh(prefix: str) -> str:
    """A new id per race: a target may still hold an earlier check's interrupted request
    (AstrBot 4.29.3 keeps it active), and that must not decide this one."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def start_slow_reply(client, target, session_id: str, message_id: str = "msg_slow") -> None:
    """Send a slow chat request and wait for its first streamed `plain`: the races below need
    the reply to be visibly running."""
    await client.send({"ct": "chat", "t": "send", "session_id": session_id,
                       "message_id": message_id, "message": parts(target.slow_text)})
    first = await client.until(lambda f: f.get("type") in ("plain", "end") or is_error(f),
                               waiting_for="the first plain of a slow reply")
    if first[-1].get("type") != "plain":
        raise SuiteError(f"race not placed: the slow reply gave no plain before {first[-1]}")


async def reply_frames(client, message_id: str) -> list[dict]:
    """Frames up to the `end` of the reply to `message_id` (or an error)."""
    return await client.until(lambda f: is_error(f) or (f.get("type") == "end"),
                              waiting_for=f"the end of the reply to {message_id}")


async def interrupt_a_slow_reply(client, target, session_id: str):
    """Interrupt a running slow reply; (frames after the interrupt, index of the first `end`
    among them or None, seconds from the interrupt to the first end or error)."""
    await start_slow_reply(client, target, fresh(session_id), fresh("msg_slow"))
    sent = time.monotonic()
    await client.send({"ct": "chat", "t": "interrupt"})
    try:  # up to the reply's end or the server's answer to the interrupt
        after = await client.until(lambda f: f.get("type") == "end" or is_error(f),
                                   waiting_for="the reply to stop")
    except TargetTimeout:
        return [], None, 0.0  # it stopped without a word: no end, no complete
    elapsed = time.monotonic() - sent
    # listen on while the reply still streams: until it ends or is quiet for 0.5 s
    while True:
        more = await client.quiet(0.5)
        after += more
        if not more or any(f.get("type") in ENDS for f in more) \
                or time.monotonic() - sent > target.timeout:
            break
    ended = next((i for i, f in enumerate(after) if f.get("type") == "end"), None)
    return after, ended, elapsed


def judge_interrupt(after: list[dict], ended: int | None, elapsed: float) -> None:
    """An interrupted reply sends no `end`/`complete` once the interrupt is handled."""
    interrupted = next((i for i, f in enumerate(after)
                        if is_error(f) and f.get("code") == "INTERRUPTED"), None)
    if ended is not None and (interrupted is None or ended < interrupted):
        require_placed(False, elapsed)
        raise AssertionError(
            f"the reply ran to its end after the interrupt: {kinds(after)}")
    late = [f.get("type") for f in after[(interrupted or -1) + 1:] if f.get("type") in ENDS]
    assert not late, f"the interrupted reply still sent {late}"


async def second_send_during_reply(client, target, session_id: str) -> list[dict]:
    """A second `send` while a slow reply streams; what came up to the slow reply's end and
    in a short quiet after it. The slow request's id starts `msg_slow`, the second's
    `msg_second`."""
    session_id = fresh(session_id)
    await start_slow_reply(client, target, session_id, fresh("msg_slow"))
    await client.send({"ct": "chat", "t": "send", "session_id": session_id,
                       "message_id": fresh("msg_second"), "message": parts("And this?")})
    frames = await client.until(
        lambda f: is_error(f) or (f.get("type") == "end"
                                  and not _of(f, "msg_second")),
        waiting_for="the end of the slow reply")
    return frames + await client.quiet(0.5)


def _of(frame: dict, prefix: str) -> bool:
    return str(frame.get("message_id") or "").startswith(prefix)


def judge_busy(frames: list[dict]) -> None:
    """The second send gets `Session is busy` (PROCESSING_ERROR); the reason says what the
    target did instead: queued it after the first reply, or answered both at once."""
    if any(is_error(f) and f.get("code") == "PROCESSING_ERROR" for f in frames):
        return
    second = [i for i, f in enumerate(frames) if _of(f, "msg_second") and not is_error(f)]
    first_end = next((i for i, f in enumerate(frames) if f.get("type") == "end"
                      and not _of(f, "msg_second")), None)
    if second and (first_end is None or second[0] < first_end):
        how = "it was answered at once, beside the running reply (concurrent replies)"
    elif second:
        how = "it was queued and answered after the running reply's end"
    else:
        how = "it got no answer before the running reply's end"
    raise AssertionError(f"no busy error for a send during a running reply: {how}: "
                         f"{kinds(frames)}")
