"""Allowed variations: behaviour the contract permits that the simulator happens not to show
(other timings, other valid framing). The suite must blame none of them: no FAIL, no
NON-STRICT. Each area module may hold more of its own."""

from __future__ import annotations

from simulator.http.kernel import sse

from . import Fault, kit


def nothing() -> None:
    """No code change: the variation is in the target's settings (`sim_args`)."""


def sse_comments_and_ids() -> None:
    """Every SSE event carries an `id:` line and is preceded by a `: keep-alive` comment, both
    valid Server-Sent Events framing (WHATWG HTML, 9.2) that proxies and servers add."""
    counter = iter(range(1, 1 << 62))

    @kit.wrap(sse, "encode")
    def framed(original, event: dict) -> bytes:
        return f": keep-alive\nid: {next(counter)}\n".encode() + original(event)


FAULTS = [
    Fault("slow-speech-to-text", "speech-to-text takes 1.5 s per segment (a deployed provider "
          "on a slow network): a voice turn's user_msg comes late, which the contract allows",
          nothing, profiles=("live-api", "legacy-jwt-live"),
          sim_args=("--timing", "stt_base_ms=1500")),
    Fault("slow-first-token", "the model takes 2 s to its first token and then streams at 20 "
          "tokens/s: turns last seconds, as with a large hosted model",
          nothing, profiles=("live-api",),
          sim_args=("--timing", "llm_ttft_ms=2000", "--timing", "llm_tokens_per_s=20")),
    Fault("jittery-timing", "every duration varies by up to 90 % from turn to turn (a shared, "
          "loaded deployment)", nothing, profiles=("live-api", "legacy-jwt-live"),
          sim_args=("--timing", "jitter=0.9")),
    Fault("sse-comments-and-ids", "the chat event stream carries `id:` lines and `: keep-alive` "
          "comments, valid SSE framing a proxy or another server adds", sse_comments_and_ids,
          profiles=("open-api",)),
]
