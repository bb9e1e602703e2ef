"""The live writer's hand-spelt frame encoding is byte-for-byte the shared JSON encoder's:
every frame shape a turn sends (and near misses that must fall back to the encoder), encoded
twice (the second time from the caches of `frames.response` and `outbox`)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from simulator.backends import speech
from simulator.http.kernel.envelope import dumps
from simulator.live import frames, outbox

scalars = (st.text() | st.floats() | st.integers() | st.booleans() | st.none()
           | st.lists(st.integers(), max_size=2))
names = st.sampled_from(["llm_ttft", "tts", "ts", "text", "input_type"]) | st.text(max_size=8)
data_frames = st.builds(lambda t, data: {"t": t, "data": data},
                        st.sampled_from(["metrics", "user_msg", "bot_msg", "bot_delta_chunk",
                                         "bot_text_chunk", "response", "end", "other"]),
                        st.dictionaries(names, scalars, max_size=4) | scalars)
odd_frames = (st.builds(lambda data, t: {"data": data, "t": t}, scalars,
                        st.sampled_from(["metrics", "response", "bot_delta_chunk"]))
              | st.dictionaries(st.sampled_from(["t", "data", "x"]),
                                st.sampled_from(["end", "stop_play", "metrics"]) | scalars))


def expected(frame: dict) -> bytes:
    return outbox.text_frame(dumps(frame))


@given(data_frames | odd_frames)
def test_every_frame_is_encoded_as_the_json_encoder_spells_it(frame):
    assert outbox.frame_json(frame) == dumps(frame)
    assert outbox.encode(frame) == expected(frame)
    assert outbox.encode(frame) == expected(frame)  # again: cached or not, the same bytes


@given(st.text(max_size=300))
def test_a_sentence_s_audio_frame_is_its_wav_in_base64(sentence):
    wav = speech.synthesize(sentence)
    first, again = frames.response(wav), frames.response(bytes(wav))  # a copy: same frame
    assert first == again == {"t": "response", "data": __import__("base64").b64encode(
        wav).decode("ascii")}
    assert outbox.encode(first) == outbox.encode(again) == expected(first)


def test_the_turn_frames_are_the_encoder_s():
    for frame in (frames.metrics(llm_ttft=0.1 + 0.2, llm_total_time=1e-7, input_type="text"),
                  frames.metrics(wav_to_tts_total_time=12345678901234.5, tts="sim_tts"),
                  frames.user_msg('quote " backslash \\ tab \t é 中 \x00', 1764633600123),
                  frames.bot_msg("", 0), frames.metrics(), frames.end(), frames.stop_play(),
                  frames.bot_delta(" hello\n"), frames.bot_text_chunk("Hi. ")):
        assert outbox.encode(frame) == expected(frame), frame
        assert json.loads(outbox.frame_json(frame)) == frame


def test_the_engine_s_sentence_endings_are_its_pattern_s_characters():
    """llm_delta tests a delta against the set; the sentences are cut with the pattern."""
    from simulator.live.engine import SENTENCE_END, SENTENCE_ENDINGS
    assert {c for c in map(chr, range(0x10000)) if SENTENCE_END.search(c)} == SENTENCE_ENDINGS


async def test_the_outbox_hands_over_everything_queued_or_up_to_a_drop():
    box = outbox.Outbox()
    first, second = frames.user_msg("a", 1), frames.end()
    box.put(first)
    box.put(second)
    assert box.bytes == len(outbox.encode(first)) + len(outbox.encode(second))
    assert box.take() == (outbox.encode(first) + outbox.encode(second), False)
    assert (box.bytes, box.ready.is_set(), box.take()) == (0, False, (b"", False))
    box.put(first)
    box.put(outbox.DROP)
    box.put(second)
    assert box.take() == (outbox.encode(first), True)
    assert box.bytes == len(outbox.encode(second)) and box.ready.is_set()
