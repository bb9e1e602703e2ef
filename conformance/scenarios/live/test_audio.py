"""A voice turn: `start_speaking`, `speaking_part` (Base64 16 kHz mono 16-bit PCM),
`end_speaking` (seed 001 Live Mode; metrics order of seed 000 `_process_audio`)."""

from __future__ import annotations

import pytest

from conformance.audio import chunks_b64, speech_pcm
from conformance.clients.live import TargetTimeout, Turn
from conformance.clients.transcript import Transcript
from conformance.scenario import live_key, open_live, run, send_audio

SPOKEN = "Hello there, this is a voice turn."


@pytest.fixture(scope="module")
def audio_turn(target, creds):
    transcript = Transcript("voice turn on /api/v1/live/ws")

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            await send_audio(client, SPOKEN)
            try:
                return await client.turn()
            except TargetTimeout as exc:  # LIVE-AUDIO-003 fails; the rest judge what came
                if not any(f.get("t") == "user_msg" for f in client.received):
                    raise  # no turn at all: nothing to judge, every check fails
                return Turn(list(client.received) + [{"t": None, "timeout": str(exc)}])

    turn = run(go(), target)
    turn.transcript = transcript
    return turn


def metrics_with(turn, key: str) -> list[int]:
    return [i for i, f in enumerate(turn.frames) if f.get("t") == "metrics"
            and isinstance(f.get("data"), dict) and key in f["data"]]


@pytest.mark.requirement("LIVE-AUDIO-001")
def test_voice_turn_opens_with_assembly_metrics(audio_turn):
    first = audio_turn.frames[0]
    data = first.get("data") if isinstance(first.get("data"), dict) else {}
    assert first.get("t") == "metrics" and isinstance(data.get("wav_assemble_time"),
                                                      int | float), \
        f"the first frame is not metrics with wav_assemble_time: {first}"
    assert data.get("input_type") == "audio", f"input_type is {data.get('input_type')!r}"


@pytest.mark.requirement("LIVE-AUDIO-002")
def test_stt_metric_before_user_msg(audio_turn):
    stt, user = metrics_with(audio_turn, "stt"), audio_turn.index("user_msg")
    assert stt, "no metrics frame names the speech-to-text provider (`stt`)"
    assert user is not None and stt[0] < user, "the stt metric does not precede user_msg"
    assert isinstance(audio_turn.frames[stt[0]]["data"]["stt"], str)


@pytest.mark.requirement("LIVE-AUDIO-003")
def test_voice_turn_transcribes_and_answers(audio_turn):
    users = audio_turn.of("user_msg")
    assert len(users) == 1, f"expected one user_msg, got {audio_turn.types()}"
    text = (users[0].get("data") or {}).get("text")
    assert isinstance(text, str) and text.strip(), f"empty transcript: {users[0]}"
    timeout = audio_turn.frames[-1].get("timeout") if audio_turn.frames else None
    assert not timeout, f"the voice turn never ended: {timeout}; frames {audio_turn.types()}"
    assert audio_turn.terminal == "end", f"the voice turn ended with {audio_turn.terminal!r}"


@pytest.mark.requirement("LIVE-AUDIO-004")
def test_end_speaking_with_another_stamp_is_an_error(target, creds, evidence):
    transcript = Transcript("end_speaking with a stamp that was never started")
    evidence.append(transcript)

    async def go():
        client = await open_live(target, "", key=live_key(creds), transcript=transcript)
        async with client:
            # with audio in between, so that only the stamp is wrong (not an empty segment)
            await client.send({"t": "start_speaking", "stamp": "seg_a"})
            for part in chunks_b64(speech_pcm(SPOKEN)):
                await client.send({"t": "speaking_part", "data": part})
            await client.send({"t": "end_speaking", "stamp": "seg_b"})
            return await client.quiet(1.0)

    frames = run(go(), target)
    assert frames and frames[0].get("t") == "error", \
        f"a mismatched end_speaking got {frames or 'no answer'} instead of an error frame"
    assert "user_msg" not in [f.get("t") for f in frames], "it started a turn anyway"


# The turn rules of a text turn hold for a voice turn too (seed 001: one Live Mode turn
# structure; seed 000 runs both through `_process_live_user_text`): judged here on the voice
# turn, so a frame missing only from voice turns is caught.

def _text(frame: dict) -> str | None:
    data = frame.get("data")
    return data.get("text") if isinstance(data, dict) else None


@pytest.mark.requirement("LIVE-TURN-003")
def test_voice_user_msg_has_a_ms_timestamp(audio_turn):
    users = audio_turn.of("user_msg")
    if not users:
        pytest.skip("no user_msg (judged by LIVE-AUDIO-003)")
    ts = (users[0].get("data") or {}).get("ts")
    assert isinstance(ts, int) and not isinstance(ts, bool) and ts > 10**12, \
        f"the voice turn's user_msg ts {ts!r} is not integer epoch milliseconds"


@pytest.mark.requirement("LIVE-TURN-004")
def test_voice_turn_streams_its_reply_as_deltas(audio_turn):
    deltas = [_text(f) for f in audio_turn.of("bot_delta_chunk")]
    assert deltas and "".join(d or "" for d in deltas).strip(), \
        f"the voice turn streamed no bot_delta_chunk text: {audio_turn.types()}"
    final = "".join(_text(f) or "" for f in audio_turn.of(
        "bot_text_chunk" if audio_turn.of("response") else "bot_msg"))
    if final:
        assert "".join(d or "" for d in deltas).strip() == final.strip(), \
            f"the voice turn's deltas give {''.join(d or '' for d in deltas)!r}, its reply " \
            f"is {final!r}"


@pytest.mark.requirement("LIVE-TURN-008")
def test_voice_turn_bot_msg_only_without_audio(audio_turn):
    bot_msgs = audio_turn.of("bot_msg")
    if audio_turn.of("response"):
        assert not bot_msgs, "the voice turn sent bot_msg although it streamed audio"
    else:
        assert len(bot_msgs) == 1, "the voice turn streamed no audio, so exactly one bot_msg " \
            f"is due; got {len(bot_msgs)}"


@pytest.mark.requirement("LIVE-TURN-009")
def test_voice_turn_has_one_end_and_only_metrics_after_it(audio_turn):
    ends = [f for f in audio_turn.frames + audio_turn.trailing if f.get("t") == "end"]
    assert len(ends) == 1, f"the voice turn has {len(ends)} end frames"
    late = [f.get("t") for f in audio_turn.trailing if f.get("t") != "metrics"]
    assert not late, f"frames after the voice turn's end: {late}"
