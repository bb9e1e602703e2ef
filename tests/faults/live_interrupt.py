"""Faults of `interrupt` on /api/v1/live/ws: before the first delta, between deltas, during
speech-to-text, when idle, twice, and the input right after an interrupted turn (LIVE-INT-*),
plus allowed variations the suite must not blame."""

from __future__ import annotations

from simulator.live.engine import REPLYING, RUNNING, CancelTurn, LiveSession, Send
from simulator.live.frames import BUSY
from simulator.live.states import State

from . import Fault, kit
from .live_turn import _t, live_handler

STOP = {"t": "stop_play"}
TRANSCRIBING = (State.TRANSCRIBING, State.STOPPING)  # speech-to-text runs


def ignored_before_first_delta() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        if self.turn_state is State.WAITING_FOR_LLM:
            return []  # "nothing is playing yet"
        return original(self, frame)


def ends_with_end() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        return [Send({"t": "end"}) if _t(e) == "stop_play" else e
                for e in original(self, frame)]


def end_after_stop_play() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        effects = original(self, frame)
        if kit.sent(effects, "stop_play"):
            i = next(i for i, e in enumerate(effects) if _t(e) == "stop_play")
            effects.insert(i + 1, Send({"t": "end"}))  # the turn's `finally` closes it too
        return effects


def one_delta_after_stop_play() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        turn = self.turn
        effects = original(self, frame)
        if kit.sent(effects, "stop_play") and turn is not None:
            self._draining = turn.id  # the stream is cancelled only at its next chunk
            effects = [e for e in effects if not isinstance(e, CancelTurn)]
        return effects

    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        if getattr(self, "_draining", None) == turn_id and text:
            self._draining = None
            return [Send({"t": "bot_delta_chunk", "data": {"text": text}}),
                    CancelTurn(turn_id)]
        return original(self, turn_id, text)


def bot_msg_after_stop_play() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        turn = self.turn
        effects = original(self, frame)
        if kit.sent(effects, "stop_play") and turn is not None and not turn.audio_chunks:
            effects.append(Send({"t": "bot_msg", "data": {"text": turn.text,
                                                          "ts": self._ms()}}))
        return effects  # the partial reply, as it is saved to history


def busy_after_interrupt() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        effects = original(self, frame)
        if kit.sent(effects, "stop_play"):
            self._busy_until = self.clock() + 0.5  # until the cancelled task has wound down
        return effects

    for kind in ("text_input", "end_speaking"):
        @live_handler(kind)
        def busy(original, self, frame):
            if self.clock() < getattr(self, "_busy_until", 0.0):
                return [Send(dict(BUSY))]
            return original(self, frame)


def stop_play_on_every_interrupt() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        effects = original(self, frame)
        return effects if kit.sent(effects, "stop_play") else [*effects, Send(dict(STOP))]


def second_stop_play() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        effects = original(self, frame)
        if kit.sent(effects, "stop_play"):
            self._stopped_at = self.clock()
        elif self.clock() - getattr(self, "_stopped_at", -99.0) < 1.0:
            effects.append(Send(dict(STOP)))  # "still stopping": answered again
        return effects


def idle_interrupt_error() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        if self.turn_state not in RUNNING:
            return [Send({"t": "error", "data": "No response to interrupt",
                          "code": "INVALID_MESSAGE_FORMAT"})]
        return original(self, frame)


def stuck_after_interrupt_during_stt() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        turn = self.turn
        if self.turn_state in TRANSCRIBING:
            self._stuck = turn.id  # speech-to-text cancelled; the turn is never closed
            return []
        return original(self, frame)

    @kit.wrap(LiveSession, "transcribed")
    def transcribed(original, self, turn_id, text):
        if getattr(self, "_stuck", None) == turn_id:
            return []
        return original(self, turn_id, text)


def ignored_without_tts() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        if self.turn_state in REPLYING and not self.turn.tts:
            return []  # "interrupt stops playback": with no audio there is nothing to stop
        return original(self, frame)


def flag_kept_for_next_turn() -> None:
    stop = LiveSession._LIVE_HANDLERS["interrupt"]

    @live_handler("interrupt")
    def interrupt(original, self, frame):
        if self.turn_state not in RUNNING:
            self._pending_stop = True  # a flag, reset only by the turn it stops
            return []
        return original(self, frame)

    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        if getattr(self, "_pending_stop", False) and self._current(turn_id) is not None:
            self._pending_stop = False
            return stop(self, {"t": "interrupt"})
        return original(self, turn_id, text)


# allowed variations -------------------------------------------------------------------------

def ignored_during_stt() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        if self.turn_state in TRANSCRIBING:
            return []  # no model or TTS response is running yet: nothing to interrupt
        return original(self, frame)


def metrics_after_stop_play() -> None:
    @live_handler("interrupt")
    def interrupt(original, self, frame):
        effects = original(self, frame)
        if kit.sent(effects, "stop_play"):
            effects.append(Send({"t": "metrics", "data": {"interrupted_after": 0.1}}))
        return effects


FAULTS = [
    Fault("interrupt-ignored-before-first-delta", "an interrupt is acted on only once a delta "
          "has streamed (\"nothing is playing yet\"), so one sent before the first delta is "
          "dropped", ignored_before_first_delta, breaks=("LIVE-INT-001",)),
    Fault("interrupt-ends-with-end", "an interrupted turn is closed with `end` instead of "
          "`stop_play` (treated as a finished turn)", ends_with_end,
          breaks=("LIVE-INT-001",),
          # between deltas, an end right after the interrupt reads as a turn that ended on
          # its own: those races are not placed (ERROR), never PASS
          may=("LIVE-INT-002", "LIVE-INT-004", "LIVE-INT-005")),
    Fault("end-after-stop-play", "after stop_play the turn's cleanup still sends its `end`",
          end_after_stop_play, breaks=("LIVE-INT-002", "LIVE-ORDER-001"),
          may=("LIVE-INT-005",)),  # the stray end is read as the next input's
    Fault("one-delta-after-stop-play", "the model stream is cancelled only when its next "
          "chunk arrives, and that chunk is still forwarded after stop_play",
          one_delta_after_stop_play, breaks=("LIVE-INT-002", "LIVE-ORDER-001")),
    Fault("bot-msg-after-stop-play-without-tts", "with TTS off, stop_play is followed by a "
          "bot_msg with the partial reply (sent as it is saved)", bot_msg_after_stop_play,
          breaks=("LIVE-INT-002", "LIVE-ORDER-001"), sim_args=("--no-tts",)),
    Fault("busy-after-interrupt", "after stop_play the session stays busy for 0.5 s, until "
          "the cancelled task has wound down: an input sent at once gets `Session is busy`",
          busy_after_interrupt, breaks=("LIVE-INT-005",)),
    Fault("stop-play-on-every-interrupt", "every interrupt is answered with stop_play, also "
          "with no turn running and for a repeated interrupt",
          stop_play_on_every_interrupt, breaks=("LIVE-INT-003", "LIVE-INT-004"),
          may=("LIVE-ORDER-001",)),
    Fault("second-stop-play", "a repeated interrupt within a second of the first is answered "
          "with a second stop_play", second_stop_play, breaks=("LIVE-INT-004",),
          may=("LIVE-ORDER-001",)),
    Fault("idle-interrupt-error", "an interrupt with no turn running gets an error frame",
          idle_interrupt_error, breaks=("LIVE-INT-003",)),
    Fault("stuck-after-interrupt-during-stt", "an interrupt during speech-to-text cancels it "
          "but never closes the turn: no terminal frame, and the session stays busy",
          stuck_after_interrupt_during_stt, breaks=("LIVE-INT-005", "LIVE-ORDER-001"),
          may=("LIVE-INT-002",)),
    Fault("interrupt-ignored-without-tts", "with TTS off, an interrupt is ignored (it was "
          "wired to stop audio playback only) and the reply runs to its end",
          ignored_without_tts, breaks=("LIVE-INT-001",), sim_args=("--no-tts",)),
    Fault("interrupt-flag-kept", "an interrupt with no turn running (the second of two) sets "
          "a flag that stops the next turn at its first delta", flag_kept_for_next_turn,
          breaks=("LIVE-INT-003", "LIVE-INT-005")),
    # allowed variations
    Fault("interrupt-ignored-during-stt", "an interrupt during speech-to-text is ignored (no "
          "model or TTS response runs yet): the voice turn answers in full",
          ignored_during_stt, profiles=("live-api",)),
    Fault("metrics-after-stop-play", "a metrics frame follows stop_play (the time to stop): "
          "metrics may come anywhere", metrics_after_stop_play, profiles=("live-api",)),
]
