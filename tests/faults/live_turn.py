"""Faults in a live turn's frame order: text, audio, without audio (TTS off), in each kind of
turn (LIVE-TURN-*, LIVE-AUDIO-*, LIVE-ORDER-001, LIVE-FRAME-001), plus allowed variations of a
turn (extra metrics, other delta chunking) that the suite must not blame."""

from __future__ import annotations

import json

from simulator.live.engine import LiveSession, Send

from . import Fault, kit


def _t(effect) -> str | None:
    return effect.frame.get("t") if isinstance(effect, Send) else None


def _is_metrics_with(effect, key: str) -> bool:
    return _t(effect) == "metrics" and key in (effect.frame.get("data") or {})


def live_handler(kind: str):
    """Decorator: the engine's handler of client frame `kind` becomes fn(original, self,
    frame) (the engine dispatches through LiveSession._LIVE_HANDLERS, not the methods)."""
    def install(fn):
        original = LiveSession._LIVE_HANDLERS[kind]
        LiveSession._LIVE_HANDLERS[kind] = lambda self, frame: fn(original, self, frame)
        return fn
    return install


def rewrite_frames(method: str, fn) -> None:
    """`fn(session, effects) -> effects` for the effects of one engine method only."""
    kit.frames(lambda session, name, effects: fn(session, effects) if name == method
               else effects)


# without audio ------------------------------------------------------------------------------

def no_bot_msg() -> None:
    """The bot_msg of a turn without audio is forgotten (TTS off: no response frames)."""
    kit.frames(lambda session, method, effects: [
        e for e in effects if not kit.sent([e], "bot_msg")])


def bot_msg_last_delta() -> None:
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        last = getattr(self, "_last_delta", "")
        return [Send({**e.frame, "data": {**e.frame["data"], "text": last}})
                if _t(e) == "bot_msg" else e for e in original(self, turn)]

    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        effects = original(self, turn_id, text)
        if kit.sent(effects, "bot_delta_chunk"):
            self._last_delta = text
        return effects


def duplicate_end_without_audio() -> None:
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        audio = turn.audio_chunks
        effects = original(self, turn)
        if audio:
            return effects
        out = []
        for e in effects:
            out.append(e)
            if _t(e) == "end":
                out.append(Send({"t": "end"}))
        return out


def bot_msg_after_end_without_audio() -> None:
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        effects = original(self, turn)
        msgs = [e for e in effects if _t(e) == "bot_msg"]
        rest = [e for e in effects if _t(e) != "bot_msg"]
        return rest + msgs  # the final text goes out after `end` and its metrics


def last_delta_unsent_without_audio() -> None:
    @kit.wrap(LiveSession, "_start_turn")
    def start(original, self, user_text, started):
        self._held = []
        return original(self, user_text, started)

    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        turn = self._current(turn_id)
        effects = original(self, turn_id, text)
        if turn is None or turn.tts:
            return effects
        held, self._held = getattr(self, "_held", []), [
            e for e in effects if _t(e) == "bot_delta_chunk"]
        return held + [e for e in effects if _t(e) != "bot_delta_chunk"]

    @kit.wrap(LiveSession, "llm_done")
    def done(original, self, turn_id):
        self._held = []  # the final chunk only goes into bot_msg
        return original(self, turn_id)


def no_end_without_audio() -> None:
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        audio = turn.audio_chunks
        effects = original(self, turn)
        return effects if audio else [e for e in effects if _t(e) != "end"]


# text turns ---------------------------------------------------------------------------------

def text_metrics_missing() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        return [e for e in original(self, frame) if not _is_metrics_with(e, "input_type")]


def text_metrics_after_user_msg() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        effects = original(self, frame)
        opening = [e for e in effects if _is_metrics_with(e, "input_type")]
        if not opening or not kit.sent(effects, "user_msg"):
            return effects
        out = []
        for e in effects:
            if e in opening:
                continue
            out.append(e)
            if _t(e) == "user_msg":
                out += opening
        return out


def user_msg_untrimmed() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        raw = frame.get("text")
        return [Send({**e.frame, "data": {**e.frame["data"], "text": raw}})
                if _t(e) == "user_msg" and isinstance(raw, str) else e
                for e in original(self, frame)]


def user_msg_ts_seconds() -> None:
    def seconds(session, method, effects):
        return [Send({**e.frame, "data": {**e.frame["data"],
                                          "ts": e.frame["data"]["ts"] // 1000}})
                if _t(e) == "user_msg" else e for e in effects]
    kit.frames(seconds)


def first_delta_dropped() -> None:
    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        turn = self._current(turn_id)
        first = turn is not None and turn.first_delta_at is None
        effects = original(self, turn_id, text)
        return [e for e in effects if _t(e) != "bot_delta_chunk"] if first else effects


def delta_data_string() -> None:
    def flat(session, method, effects):
        return [Send({"t": "bot_delta_chunk", "data": e.frame["data"]["text"]})
                if _t(e) == "bot_delta_chunk" else e for e in effects]
    kit.frames(flat)


# audio output (TTS) -------------------------------------------------------------------------

def response_before_text_chunk() -> None:
    def swap(session, effects):
        out = list(effects)
        for i in range(len(out) - 1):
            if _t(out[i]) == "bot_text_chunk" and _t(out[i + 1]) == "response":
                out[i], out[i + 1] = out[i + 1], out[i]
        return out
    rewrite_frames("spoken", swap)


def end_before_last_audio() -> None:
    @kit.wrap(LiveSession, "llm_done")
    def done(original, self, turn_id):
        turn = self._current(turn_id)
        effects = original(self, turn_id)
        if turn is not None and turn.speaking is not None and self.turn is turn:
            self._ended_early = turn.id
            return [*effects, Send({"t": "end"})]
        return effects

    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        effects = original(self, turn)
        if getattr(self, "_ended_early", None) == turn.id:
            return [e for e in effects if _t(e) != "end"]
        return effects


def bot_msg_with_audio() -> None:
    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        text, audio = turn.text, turn.audio_chunks
        effects = original(self, turn)
        if not audio:
            return effects
        i = next(i for i, e in enumerate(effects) if _t(e) == "end")
        return [*effects[:i], Send({"t": "bot_msg", "data": {"text": text, "ts": self._ms()}}),
                *effects[i:]]


def response_urlsafe_base64() -> None:
    table = str.maketrans("+/", "-_")

    def urlsafe(session, effects):
        return [Send({"t": "response", "data": e.frame["data"].translate(table)})
                if _t(e) == "response" else e for e in effects]
    rewrite_frames("spoken", urlsafe)


def response_mime_base64() -> None:
    def mime(session, effects):
        out = []
        for e in effects:
            if _t(e) == "response":
                data = e.frame["data"]
                e = Send({"t": "response", "data": "\n".join(
                    data[i:i + 76] for i in range(0, len(data), 76)) + "\n"})
            out.append(e)
        return out
    rewrite_frames("spoken", mime)


def speaking_frame() -> None:
    def announce(session, effects):
        out = []
        for e in effects:
            if _t(e) == "bot_text_chunk":
                out.append(Send({"t": "tts_start", "data": {"text": e.frame["data"]["text"]}}))
            out.append(e)
        return out
    rewrite_frames("spoken", announce)


def response_raw_pcm() -> None:
    @kit.wrap(LiveSession, "spoken")
    def spoken(original, self, turn_id, audio):
        return original(self, turn_id, audio[44:])  # the RIFF/WAVE header dropped


# voice turns --------------------------------------------------------------------------------

def audio_metrics_say_text() -> None:
    @live_handler("end_speaking")
    def end_speaking(original, self, frame):
        return [Send({"t": "metrics", "data": {**e.frame["data"], "input_type": "text"}})
                if _is_metrics_with(e, "input_type") else e for e in original(self, frame)]


def audio_metrics_no_assemble_time() -> None:
    @live_handler("end_speaking")
    def end_speaking(original, self, frame):
        return [Send({"t": "metrics", "data": {"input_type": "audio"}})
                if _is_metrics_with(e, "wav_assemble_time") else e
                for e in original(self, frame)]


def stt_metric_after_user_msg() -> None:
    @live_handler("end_speaking")
    def end_speaking(original, self, frame):
        effects = original(self, frame)
        self._stt_metric = [e for e in effects if _is_metrics_with(e, "stt")]
        return [e for e in effects if not _is_metrics_with(e, "stt")]

    def after(session, effects):
        held, session._stt_metric = getattr(session, "_stt_metric", []), []
        out = []
        for e in effects:
            out.append(e)
            if _t(e) == "user_msg":
                out += held
        return out
    rewrite_frames("transcribed", after)


def voice_user_msg_missing() -> None:
    rewrite_frames("transcribed", lambda session, effects: [
        e for e in effects if _t(e) != "user_msg"])


def voice_user_msg_empty() -> None:
    rewrite_frames("transcribed", lambda session, effects: [
        Send({"t": "user_msg", "data": {**e.frame["data"], "text": ""}})
        if _t(e) == "user_msg" else e for e in effects])


def voice_user_msg_after_first_delta() -> None:
    def hold(session, effects):
        session._held_user_msg = [e for e in effects if _t(e) == "user_msg"]
        if kit.sent(effects, "stop_play"):  # interrupted during speech-to-text: keep order
            session._held_user_msg = []
            return effects
        return [e for e in effects if _t(e) != "user_msg"]
    rewrite_frames("transcribed", hold)

    def release(session, effects):
        held = getattr(session, "_held_user_msg", [])
        if held and kit.sent(effects, "bot_delta_chunk"):
            session._held_user_msg = []
            return [*effects, *held]
        return effects
    rewrite_frames("llm_delta", release)


def voice_user_msg_ts_float() -> None:
    rewrite_frames("transcribed", lambda session, effects: [
        Send({"t": "user_msg", "data": {**e.frame["data"], "ts": e.frame["data"]["ts"] + 0.5}})
        if _t(e) == "user_msg" else e for e in effects])


def mark_voice_turns() -> None:
    """Voice turns get `voice = True` once transcribed (the engine keeps no such flag)."""
    @kit.wrap(LiveSession, "transcribed")
    def transcribed(original, self, turn_id, text):
        effects = original(self, turn_id, text)
        if self.turn is not None and self.turn.id == turn_id:
            self.turn.voice = True
        return effects


def voice_no_deltas() -> None:
    mark_voice_turns()

    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        turn = self._current(turn_id)
        effects = original(self, turn_id, text)
        if turn is not None and getattr(turn, "voice", False):
            return [e for e in effects if _t(e) != "bot_delta_chunk"]
        return effects


def voice_no_bot_msg() -> None:
    mark_voice_turns()

    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        effects = original(self, turn)
        if getattr(turn, "voice", False):
            return [e for e in effects if _t(e) != "bot_msg"]
        return effects


def voice_user_msg_ts_seconds() -> None:
    rewrite_frames("transcribed", lambda session, effects: [
        Send({"t": "user_msg", "data": {**e.frame["data"], "ts": e.frame["data"]["ts"] // 1000}})
        if _t(e) == "user_msg" else e for e in effects])


def voice_turn_no_end() -> None:
    mark_voice_turns()

    @kit.wrap(LiveSession, "_close")
    def close(original, self, turn):
        effects = original(self, turn)
        if getattr(turn, "voice", False):
            return [e for e in effects if _t(e) != "end"]
        return effects


# input errors -------------------------------------------------------------------------------

def blank_text_starts_turn() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        text = frame.get("text")
        if isinstance(text, str) and text and not text.strip():  # `if not text` only
            return [Send({"t": "metrics", "data": {"input_type": "text"}}),
                    *self._start_turn(text, self.clock())]
        return original(self, frame)


def missing_text_ignored() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        if "text" not in frame and "message" not in frame:
            return []  # a frame without the field is dropped silently
        return original(self, frame)


def blank_text_processing_error() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        return [Send({**e.frame, "code": "PROCESSING_ERROR"})
                if _t(e) == "error" and e.frame.get("code") == "INVALID_MESSAGE_FORMAT" else e
                for e in original(self, frame)]


def input_error_data_object() -> None:
    def wrap_message(session, method, effects):
        return [Send({**e.frame, "data": {"message": e.frame["data"]}})
                if _t(e) == "error" and e.frame.get("code") == "INVALID_MESSAGE_FORMAT"
                and "ct" not in e.frame else e for e in effects]
    kit.frames(wrap_message)


def frame_after_input_error_dropped() -> None:
    @live_handler("text_input")
    def text_input(original, self, frame):
        effects = original(self, frame)
        if any(_t(e) == "error" and e.frame.get("code") == "INVALID_MESSAGE_FORMAT"
               for e in effects):
            self._skip_next = True  # "resynchronises" by discarding the next frame
        return effects

    @kit.wrap(LiveSession, "receive_text")
    def receive(original, self, raw):
        if getattr(self, "_skip_next", False):
            self._skip_next = False
            return []
        return original(self, raw)


def silent_on(condition) -> None:
    """Bad input matching `condition(raw)` is dropped without an error frame (logged only)."""
    @kit.wrap(LiveSession, "receive_text")
    def receive(original, self, raw):
        effects = original(self, raw)
        if self.mode != "chat" and condition(raw) and kit.sent(effects, "error"):
            return [e for e in effects if _t(e) != "error"]
        return effects


def _parses_to(raw: str, kind: type) -> bool:
    try:
        return isinstance(json.loads(raw), kind)
    except ValueError:
        return False


def not_json_ignored() -> None:
    silent_on(lambda raw: not _parses_to(raw, object))


def binary_ignored() -> None:
    kit.wrap(LiveSession, "receive_bytes")(lambda original, self, data: [])


def non_object_ignored() -> None:
    silent_on(lambda raw: _parses_to(raw, object) and not _parses_to(raw, dict))


def unknown_type_ignored() -> None:
    @kit.wrap(LiveSession, "receive_text")
    def receive(original, self, raw):
        effects = original(self, raw)
        frame = json.loads(raw) if _parses_to(raw, dict) else None
        if frame is not None and (self.mode or ("chat" if frame.get("ct") == "chat"
                                                else "live")) == "live" \
                and frame.get("t") not in LiveSession._LIVE_HANDLERS:
            return [e for e in effects if _t(e) != "error"]
        return effects


def bad_base64_ignored() -> None:
    @live_handler("speaking_part")
    def part(original, self, frame):
        return [e for e in original(self, frame) if _t(e) != "error"]


def stamp_not_compared() -> None:
    @live_handler("end_speaking")
    def end_speaking(original, self, frame):
        if self.capture is not None and isinstance(frame.get("stamp"), str) \
                and frame.get("stamp"):
            frame = {**frame, "stamp": self.capture.stamp}  # only its presence is checked
        return original(self, frame)


# allowed variations -------------------------------------------------------------------------

def metrics_between_deltas() -> None:
    @kit.wrap(LiveSession, "llm_delta")
    def delta(original, self, turn_id, text):
        effects = original(self, turn_id, text)
        if kit.sent(effects, "bot_delta_chunk"):
            self._deltas = getattr(self, "_deltas", 0) + 1
            if self._deltas % 3 == 0:
                effects = [*effects, Send({"t": "metrics", "data": {"llm_tokens": self._deltas}})]
        return effects


def extra_metrics_after_end() -> None:
    def after(session, method, effects):
        out = []
        for e in effects:
            out.append(e)
            if _t(e) == "end":
                out += [Send({"t": "metrics", "data": {"history_saved": True}}),
                        Send({"t": "metrics", "data": {"queue_time": 0.0}})]
        return out
    kit.frames(after)


def split_deltas() -> None:
    def split(session, method, effects):
        out = []
        for e in effects:
            text = e.frame["data"]["text"] if _t(e) == "bot_delta_chunk" else ""
            if len(text) > 1:
                half = len(text) // 2
                out += [Send({"t": "bot_delta_chunk", "data": {"text": text[:half]}}),
                        Send({"t": "bot_delta_chunk", "data": {"text": text[half:]}})]
            else:
                out.append(e)
        return out
    kit.frames(split)


NO_TTS = ("--no-tts",)
LIVE = ("live-api",)

FAULTS = [
    # without audio (TTS off)
    Fault("no-bot-msg-without-tts", "with TTS off, the turn sends its deltas and `end` but no "
          "`bot_msg`: the server only ever built bot_msg from the TTS path",
          no_bot_msg, breaks=("LIVE-TURN-008",), may=("LIVE-ORDER-001",),
          sim_args=NO_TTS),
    Fault("bot-msg-last-delta-without-tts", "with TTS off, bot_msg carries the last delta "
          "instead of the whole reply (the variable holding the chunk is reused)",
          bot_msg_last_delta, breaks=("LIVE-TURN-008",), may=("LIVE-TURN-004",),
          sim_args=NO_TTS),
    Fault("duplicate-end-without-tts", "with TTS off, `end` is sent twice: once by the "
          "no-audio branch after bot_msg and once by the common turn close",
          duplicate_end_without_audio, breaks=("LIVE-TURN-009", "LIVE-ORDER-001"),
          may=("LIVE-BUSY-004",),  # the stray end is read as the next input's turn
          sim_args=NO_TTS),
    Fault("bot-msg-after-end-without-tts", "with TTS off, bot_msg is sent after `end` (the "
          "final text is flushed when the turn's task finishes, after the end frame)",
          bot_msg_after_end_without_audio, breaks=("LIVE-TURN-008", "LIVE-TURN-009",
                                                   "LIVE-ORDER-001"),
          may=("LIVE-TURN-004",), sim_args=NO_TTS),
    Fault("last-delta-unsent-without-tts", "with TTS off, the model's final chunk goes into "
          "bot_msg but is never sent as a bot_delta_chunk (it arrives with the finish reason, "
          "handled by the completion branch)", last_delta_unsent_without_audio,
          breaks=("LIVE-TURN-004",), may=("LIVE-TURN-008",), sim_args=NO_TTS),
    Fault("no-end-without-tts", "with TTS off, a turn closes with bot_msg and no `end` (the "
          "end frame was sent by the TTS completion callback, and bot_msg read as final)",
          no_end_without_audio, breaks=("LIVE-TURN-001", "LIVE-TURN-009", "LIVE-ORDER-001"),
          # every check that reads a turn to its end waits in vain: `end` is the one frame
          # all the others lean on, so its absence is seen across the profile
          may=("LIVE-INPUT-002", "LIVE-INPUT-003", "LIVE-INPUT-004", "LIVE-INPUT-005",
               "LIVE-INPUT-006", "LIVE-INPUT-007", "LIVE-INT-001", "LIVE-INT-002",
               "LIVE-INT-003", "LIVE-INT-004", "LIVE-INT-005", "LIVE-BUSY-001",
               "LIVE-BUSY-002", "LIVE-BUSY-003", "LIVE-BUSY-004", "LIVE-CONN-002",
               "LIVE-CONN-003", "LIVE-CONN-004", "LIVE-FRAME-002", "LIVE-AUDIO-003",
               "LIVE-TURN-004"),
          sim_args=NO_TTS),
    # text turns
    Fault("text-metrics-missing", "a text turn sends no opening metrics{input_type:text} "
          "(only the audio pipeline emitted the opening metrics)",
          text_metrics_missing, breaks=("LIVE-TURN-002",)),
    Fault("text-metrics-after-user-msg", "a text turn's metrics{input_type:text} comes after "
          "its user_msg (metrics emitted once the turn is registered)",
          text_metrics_after_user_msg, breaks=("LIVE-TURN-002",)),
    Fault("user-msg-untrimmed", "a text turn's user_msg echoes the raw text with its white "
          "space (the model gets the trimmed text, the echo the original)",
          user_msg_untrimmed, breaks=("LIVE-TURN-003",)),
    Fault("user-msg-ts-seconds", "user_msg.ts is integer epoch seconds (Unix time), not "
          "milliseconds", user_msg_ts_seconds, breaks=("LIVE-TURN-003",)),
    Fault("first-delta-dropped", "the first model chunk of each turn is consumed to detect "
          "the stream's start and never sent as bot_delta_chunk",
          first_delta_dropped, breaks=("LIVE-TURN-004", "LIVE-TURN-010")),
    Fault("delta-data-string", "bot_delta_chunk carries its text as a bare string in `data` "
          "(the chat-mode shape) instead of data.text",
          delta_data_string, breaks=("LIVE-FRAME-001", "LIVE-TURN-004"),
          may=("LIVE-TURN-010",)),
    # audio output
    Fault("response-before-text-chunk", "each sentence's response audio is sent before its "
          "bot_text_chunk (the audio callback fires before the text is queued)",
          response_before_text_chunk, breaks=("LIVE-TURN-005", "LIVE-ORDER-001")),
    Fault("end-before-last-audio", "`end` goes out when the model finishes, while the last "
          "sentences are still being synthesized: their text chunks and audio come after it",
          end_before_last_audio, breaks=("LIVE-TURN-009", "LIVE-ORDER-001"),
          # the turn still runs after its `end`: an input or interrupt sent then meets it
          may=("LIVE-TURN-004", "LIVE-TURN-005", "LIVE-TURN-010", "LIVE-TURN-008",
               "LIVE-INT-002", "LIVE-INT-003", "LIVE-BUSY-004", "LIVE-INPUT-001")),
    Fault("bot-msg-with-audio", "bot_msg is sent at the end of every turn, also after audio "
          "was streamed", bot_msg_with_audio, breaks=("LIVE-TURN-008", "LIVE-ORDER-001")),
    Fault("response-urlsafe-base64", "response audio is encoded with the URL-safe Base64 "
          "alphabet (- and _), as Go's base64.URLEncoding does",
          response_urlsafe_base64, breaks=("LIVE-TURN-006",),
          may=("LIVE-TURN-007", "LIVE-FRAME-001")),
    Fault("response-mime-base64", "response audio is MIME Base64, a line break every 76 "
          "characters (Python's base64.encodebytes)", response_mime_base64,
          breaks=("LIVE-TURN-006",), may=("LIVE-TURN-007", "LIVE-FRAME-001")),
    Fault("tts-start-frame", "each sentence's audio is announced by a `tts_start` frame, a "
          "type the contract does not define", speaking_frame,
          breaks=("LIVE-FRAME-002",), may=("LIVE-FRAME-001",)),
    Fault("response-raw-pcm", "response chunks carry raw PCM without the RIFF/WAVE header "
          "(the TTS provider's stream forwarded as is)",
          response_raw_pcm, breaks=("LIVE-TURN-007",)),
    # voice turns
    Fault("audio-metrics-say-text", "a voice turn's opening metrics say input_type 'text' "
          "(copied from the text path)", audio_metrics_say_text, breaks=("LIVE-AUDIO-001",)),
    Fault("audio-metrics-no-assemble-time", "a voice turn's opening metrics lack "
          "wav_assemble_time", audio_metrics_no_assemble_time, breaks=("LIVE-AUDIO-001",)),
    Fault("stt-metric-after-user-msg", "the stt metric is sent once speech-to-text is done, "
          "after the transcript's user_msg", stt_metric_after_user_msg,
          breaks=("LIVE-AUDIO-002",)),
    Fault("voice-user-msg-missing", "a voice turn sends no user_msg (the transcript goes to "
          "the model only)", voice_user_msg_missing,
          breaks=("LIVE-AUDIO-003", "LIVE-ORDER-001"),
          may=("LIVE-AUDIO-002", "LIVE-BUSY-004", "LIVE-TURN-003")),
    Fault("voice-user-msg-empty", "a voice turn's user_msg has empty text (built from the "
          "text_input field, absent in a voice turn)", voice_user_msg_empty,
          breaks=("LIVE-AUDIO-003",)),
    Fault("voice-user-msg-after-first-delta", "a voice turn's user_msg is queued behind the "
          "model's first delta", voice_user_msg_after_first_delta,
          breaks=("LIVE-ORDER-001",)),
    Fault("voice-user-msg-ts-float", "a voice turn's user_msg.ts is a float (milliseconds "
          "with a fraction); text turns are right", voice_user_msg_ts_float,
          breaks=("LIVE-FRAME-001", "LIVE-TURN-003")),
    Fault("voice-user-msg-ts-seconds", "a voice turn's user_msg.ts is epoch seconds (the STT "
          "result's own timestamp); text turns are right", voice_user_msg_ts_seconds,
          breaks=("LIVE-TURN-003",)),
    Fault("voice-turn-no-end", "a voice turn closes without `end` (only the text path sent "
          "it)", voice_turn_no_end, breaks=("LIVE-AUDIO-003", "LIVE-ORDER-001"),
          may=("LIVE-TURN-009", "LIVE-BUSY-001", "LIVE-BUSY-002", "LIVE-BUSY-003",
               "LIVE-BUSY-004")),
    Fault("voice-no-deltas", "a voice turn streams no bot_delta_chunk (the delta stream was "
          "wired into the text_input path only); text turns are right", voice_no_deltas,
          breaks=("LIVE-TURN-004",)),
    Fault("voice-no-bot-msg-without-tts", "with TTS off, a voice turn sends no bot_msg (the "
          "voice path only knew the audio reply); text turns are right", voice_no_bot_msg,
          breaks=("LIVE-TURN-008",), may=("LIVE-ORDER-001",), sim_args=NO_TTS),
    # input errors
    Fault("blank-text-starts-turn", "a text_input of white space only starts a turn (the "
          "check is `if not text`, not on the trimmed text)", blank_text_starts_turn,
          breaks=("LIVE-INPUT-001",), may=("LIVE-INPUT-002",)),
    Fault("missing-text-ignored", "a text_input without a `text` field is dropped silently "
          "(no error frame)", missing_text_ignored, breaks=("LIVE-INPUT-001",)),
    Fault("blank-text-processing-error", "a blank text_input gets an error with code "
          "PROCESSING_ERROR (the generic code) instead of INVALID_MESSAGE_FORMAT",
          blank_text_processing_error, breaks=("LIVE-INPUT-001",)),
    Fault("input-error-data-object", "input errors carry their text as data.message (an "
          "object) instead of the string `data`; busy and processing errors are right",
          input_error_data_object, breaks=("LIVE-FRAME-001",)),
    Fault("frame-after-input-error-dropped", "after an input error the next frame is "
          "discarded (the reader \"resynchronises\"), so the following valid text_input is "
          "lost", frame_after_input_error_dropped, breaks=("LIVE-INPUT-002",)),
    Fault("not-json-ignored", "a text frame that is not JSON is logged and dropped, with no "
          "error frame", not_json_ignored, breaks=("LIVE-INPUT-003",)),
    Fault("binary-ignored", "a binary frame is dropped with no error frame", binary_ignored,
          breaks=("LIVE-INPUT-004",)),
    Fault("non-object-ignored", "JSON that is not an object is dropped with no error frame",
          non_object_ignored, breaks=("LIVE-INPUT-005",)),
    Fault("unknown-type-ignored", "a frame with an unknown `t` is dropped with no error frame",
          unknown_type_ignored, breaks=("LIVE-INPUT-006",)),
    Fault("bad-base64-ignored", "a speaking_part whose data is not Base64 is dropped with no "
          "error frame", bad_base64_ignored, breaks=("LIVE-INPUT-007",)),
    Fault("stamp-not-compared", "end_speaking needs a stamp but it is never compared with "
          "start_speaking's: the audio is assembled anyway", stamp_not_compared,
          breaks=("LIVE-AUDIO-004",)),
    # allowed variations
    Fault("metrics-between-deltas", "a metrics frame (token count) after every third delta: "
          "metrics may come anywhere", metrics_between_deltas, profiles=LIVE),
    Fault("extra-metrics-after-end", "two more metrics frames after `end`: only metrics may "
          "trail a turn, and these are metrics", extra_metrics_after_end, profiles=LIVE),
    Fault("split-deltas", "every delta is sent as two bot_delta_chunk frames (a finer "
          "chunking of the same reply)", split_deltas, profiles=LIVE),
]
