"""Hostile client frames on every WebSocket path (conformance/hostile.py: wrong types for every
field of every client frame of the AsyncAPI document, deep nesting, lone surrogates, oversize,
binary, unknown types, non-objects, empty frames, invalid UTF-8, trailing garbage; `--depth
full` adds wrong-type pairs and seeded mutations), sent through a raw client that reports exactly
what came back (ws_fire.py). One record per path, judged by one rule per requirement."""

from __future__ import annotations

import pytest

from conformance import hostile
from conformance.clients.transcript import Transcript
from conformance.scenario import JWT_PATHS, LIVE_PATH, LIVE_USER, live_key, run
from conformance.scenarios.robustness.ws_fire import (
    CLOSE_CODES,
    Fired,
    Firing,
    Outcome,
    Socket,
    costly,
)

SHOWN = 5  # failing labels named in a reason

SOCKETS = [Socket(f"{LIVE_PATH} ct=live", LIVE_PATH, "live", "live", query=(("ct", "live"),)),
           Socket(f"{LIVE_PATH} ct=chat", LIVE_PATH, "chat", "chat", query=(("ct", "chat"),)),
           Socket("/api/v1/chat/ws", "/api/v1/chat/ws", "openchat", "openchat")]
SOCKETS += [Socket(path, path, "live" if how == "live" else "chat", how, jwt=True)
            for path, how in JWT_PATHS.items()]
CHAT_SOCKETS = [s for s in SOCKETS if s.kind == "chat"]
IDS = {s.name: s for s in SOCKETS}
ERROR_FRAME = {"live": "the live error frame (`t: error`)",
               "chat": "the chat error frame (`ct: chat, t: error`)",
               "unified": "the error frame of the frame's mode (`t: error`)",
               "openchat": "the chat socket's error frame (`type: error`)"}


def _open_args(socket: Socket, target, creds) -> tuple[str, dict | None]:
    if socket.jwt:
        return target.ws_url(socket.path, token=creds.require_jwt()), None
    if socket.kind == "openchat":
        return target.ws_url(socket.path), {"X-API-Key": creds.key_for("chat")}
    return target.ws_url(socket.path, api_key=live_key(creds), username=LIVE_USER,
                         **dict(socket.query)), None


@pytest.fixture(scope="module", params=list(IDS))
def fired(request, target, creds, depth, seed) -> Fired:
    socket = IDS[request.param]
    url, headers = _open_args(socket, target, creds)
    frames = hostile.ws_frames(socket.kind, depth=depth, seed=seed)
    if not target.sandboxed:  # no model call per taken frame on a real deployment
        frames = [f for f in frames if not costly(socket.kind, f)]
    transcript = Transcript(f"{len(frames)} hostile frames on {socket.name}, then a good turn")
    firing = Firing(socket, url, headers, target.timeout, transcript)
    # every frame waits at most one timeout, and the first silent one ends the run
    return run(firing.fire(frames, checkpoints=depth == "full"), target,
               waits=8 + len(frames) // 4)


def failing(fired: Fired, labels: list[str], evidence: list) -> None:
    """Evidence: the frames a rule failed on (frame sent, answer, its last frames) first, then
    the whole wire log (cut by the report after its first entries)."""
    wanted = set(labels[:40])
    if wanted:
        log = Transcript(f"the failing frames on {fired.socket.name}",
                         kind=fired.transcript.kind, path=fired.transcript.path)
        for o in fired.outcomes + [o for _, o in fired.good_turns]:
            if o.label in wanted:
                log.add(">>", {"label": o.label, "frame": o.sent})
                log.add("<<", {"answer": o.answer, "detail": o.detail, "last frames": o.seen})
        evidence.append(log)
    evidence.append(fired.transcript)


def listed(bad: list[tuple[str, str]], of: int, what: str) -> str:
    shown = "; ".join(f"{label}: {why}" for label, why in bad[:SHOWN])
    more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
    return f"{len(bad)} of {of} hostile frames {what}: {shown}{more}"


def refused_properly(o: Outcome) -> bool:
    return o.answer == "error" or (o.answer == "close" and o.code in CLOSE_CODES)


def tolerated(o: Outcome) -> bool:
    """A frame the target may also take: taken (a turn, or nothing to answer) or refused."""
    return refused_properly(o) or o.answer in ("turn", "taken", "none")


@pytest.mark.requirement("ROB-WS-001")
def test_hostile_frames_get_the_error_frame_or_a_close(fired, evidence):
    socket = fired.socket
    judged = [o for o in fired.outcomes if o.cls != hostile.SURROGATE_TURN]
    bad = []
    for o in judged:
        if not (refused_properly(o) if o.must_refuse else tolerated(o)):
            bad.append((o.label, o.detail))
    failing(fired, [label for label, _ in bad], evidence)
    assert not bad, listed(bad, len(judged), f"on {socket.name} not answered by "
                           f"{ERROR_FRAME[socket.mode]} nor closed with "
                           f"{'/'.join(map(str, CLOSE_CODES))}")


@pytest.mark.requirement("ROB-WS-002")
def test_nothing_but_websocket_frames_after_the_upgrade(fired, evidence):
    bad = [(o.label, o.detail) for o in fired.outcomes if o.answer == "garbage"]
    bad += [(f"good turn after {after}", o.detail) for after, o in fired.good_turns
            if o.answer == "garbage"]
    failing(fired, [o.label for o in fired.outcomes + [g for _, g in fired.good_turns]
                    if o.answer == "garbage"], evidence)
    assert not bad, listed(bad, len(fired.outcomes), f"on {fired.socket.name} were answered "
                           "with bytes that are no WebSocket frame (raw bytes quoted)")


@pytest.mark.requirement("ROB-WS-003")
def test_no_silent_hang_and_a_good_turn_after(fired, evidence):
    name = fired.socket.name
    control = fired.control
    if control is not None and control.answer != "turn":
        evidence.append(fired.transcript)
        pytest.skip(f"on {name} a good turn does not complete even before any hostile frame "
                    f"({control.detail or control.answer}): the turn requirements judge that, "
                    "and a hang cannot be told from it here")
    failing(fired, [fired.stopped_at or ""] + [o.label for _, o in fired.good_turns
                                               if o.answer != "turn"], evidence)
    assert not fired.reopen_problems, f"on {name}: {fired.reopen_problems[0]}"
    silent = f" (the target had fallen silent after {fired.stopped_at})" \
        if fired.stopped_at else ""
    bad = [(f"the good turn after {after}{silent if after == fired.stopped_at else ''}",
            o.detail or o.answer)
           for after, o in fired.good_turns if o.answer != "turn"]
    assert fired.good_turns and not bad, (
        f"on {name} a good turn did not complete after the hostile frames: "
        + "; ".join(f"{label}: {why}" for label, why in bad[:SHOWN]))


@pytest.mark.requirement("ROB-WS-004")
def test_lone_surrogates_in_turn_text(fired, evidence):
    judged = fired.of(hostile.SURROGATE_TURN)
    if not judged:
        pytest.skip(f"the run on {fired.socket.name} stopped before its surrogate frames "
                    f"(after {fired.stopped_at})")
    bad = [(o.label, o.detail) for o in judged if o.answer not in ("error", "turn")]
    bad += [(o.label, f"a frame of its turn is no JSON: {o.not_json[0]!r}") for o in judged
            if o.answer == "turn" and o.not_json]
    failing(fired, [label for label, _ in bad], evidence)
    assert not bad, listed(bad, len(judged), f"with a lone surrogate in the turn text on "
                           f"{fired.socket.name} got neither {ERROR_FRAME[fired.socket.mode]} "
                           "nor a turn of valid UTF-8 JSON frames that ends")


@pytest.mark.requirement("ROB-WS-005")
@pytest.mark.parametrize("fired", [s.name for s in CHAT_SOCKETS], indirect=True)
def test_chat_mode_errors_carry_ct_chat(fired, evidence):
    unified = fired.socket.mode == "unified"  # there only a frame naming ct: chat is chat
    judged = [o for o in fired.outcomes if o.error is not None
              and (o.payload_ct_chat or not unified)]
    if not judged:
        pytest.skip(f"no error frame to judge on {fired.socket.name}")
    bad = [(o.label, o.detail) for o in judged if o.error.get("ct") != "chat"]
    failing(fired, [label for label, _ in bad], evidence)
    assert not bad, listed(bad, len(judged), f"on {fired.socket.name} were refused with an "
                           "error frame without `ct: \"chat\"`")
