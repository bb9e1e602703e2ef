"""The timing model's configuration: profiles, precedence (flag > environment > file >
profile), the floors that keep every turn open, seeded jitter, and clear errors. Judged on the
resolved settings and on the command line's exit status, never on a clock."""

from __future__ import annotations

import subprocess
import sys

import pytest

from simulator.backends import timing
from simulator.backends.timing import PROFILES, TimingError, resolve
from simulator.config import SimConfig


def test_the_default_profile_is_realistic_and_code_built_configs_are_instant(monkeypatch):
    for name in list(timing.os.environ):
        if name.startswith("ASTRBOT_SIM_"):
            monkeypatch.delenv(name)
    assert resolve(env={}).profile == "realistic" == timing.DEFAULT_PROFILE
    assert SimConfig.from_env().timing == PROFILES["realistic"]
    assert SimConfig().timing == PROFILES["instant"]


def test_realistic_models_hosted_providers():
    t = PROFILES["realistic"]
    assert t.stt_seconds(10) > t.stt_seconds(1) > 0.2  # in proportion to the audio
    assert 0.3 < t.ttft_seconds() < 1.0 and 30 <= t.llm_tokens_per_s <= 150
    assert t.tts_seconds("A sentence of some length.") > t.tts_seconds("Hi.") > 0.2


def test_precedence_flag_over_env_over_file_over_profile(tmp_path):
    file = tmp_path / "timing.toml"
    file.write_text('[timing]\nprofile = "fast"\nllm_ttft_ms = 300\ntts_base_ms = 7\n'
                    "jitter = 0\n")
    env = {"ASTRBOT_SIM_LLM_TTFT_MS": "200", "ASTRBOT_SIM_STT_BASE_MS": "11"}
    t = resolve(file=file, env=env, flags={"llm_ttft_ms": "100", "seed": None})
    assert t.profile == "fast"  # from the file
    assert t.llm_ttft_ms == 100  # flag beats env and file
    assert t.stt_base_ms == 11  # env beats the profile
    assert t.tts_base_ms == 7 and t.jitter == 0  # the file beats the profile
    assert t.llm_tokens_per_s == PROFILES["fast"].llm_tokens_per_s  # the profile's own
    assert resolve(file=file, env={"ASTRBOT_SIM_LLM_TTFT_MS": "200"}).llm_ttft_ms == 200
    assert resolve(file=file, env={}).llm_ttft_ms == 300
    # the profile name follows the same order
    assert resolve(file=file, env={"ASTRBOT_SIM_TIMING_PROFILE": "instant"}).profile \
        == "instant"
    assert resolve("realistic", file=file, env={"ASTRBOT_SIM_TIMING_PROFILE": "instant"}) \
        .profile == "realistic"
    assert resolve(env={"ASTRBOT_SIM_TIMING_FILE": str(file)}).llm_ttft_ms == 300


@pytest.mark.parametrize("suffix, text", [
    (".yaml", "profile: instant\nllm_tokens_per_s: 42\n"),
    (".json", '{"timing": {"profile": "instant", "llm_tokens_per_s": 42}}'),
])
def test_yaml_and_json_files(tmp_path, suffix, text):
    file = tmp_path / f"t{suffix}"
    file.write_text(text)
    t = resolve(file=file, env={})
    assert (t.profile, t.llm_tokens_per_s) == ("instant", 42)


def test_the_legacy_llm_delay_override_still_works():
    assert resolve("realistic", env={"ASTRBOT_SIM_LLM_DELAY_MS": "50"}).llm_delay_ms == 50
    t = resolve("realistic", flags={"llm_delay_ms": 80}, env={"ASTRBOT_SIM_LLM_DELAY_MS": "50"})
    assert t.delta_seconds("word") == pytest.approx(0.080)  # replaces the token rate


def test_floors_hold_at_every_setting():
    instant = PROFILES["instant"]
    assert instant.ttft_seconds() == timing.TTFT_FLOOR_MS / 1000 > 0
    assert instant.ttft_seconds(override_ms=0) == timing.TTFT_FLOOR_MS / 1000
    assert instant.delta_seconds("x", override_ms=0) == timing.DELTA_FLOOR_MS / 1000 > 0
    assert instant.stt_seconds(0) == timing.STT_FLOOR_MS / 1000 > 0
    assert instant.tts_seconds("Hello there.") == 0  # speech at once: in the same step


def test_jitter_is_seeded():
    t = PROFILES["realistic"]

    def durations(timing_, user, turn):
        rng = timing_.rng(user, turn)
        return [timing_.ttft_seconds(rng), timing_.delta_seconds("word", rng),
                timing_.tts_seconds("Hello there.", rng)]

    assert durations(t, "alice", 1) == durations(t, "alice", 1)
    assert durations(t, "alice", 1) != durations(t, "alice", 2)
    other_seed = resolve("realistic", flags={"seed": 7}, env={})
    assert durations(other_seed, "alice", 1) != durations(t, "alice", 1)
    base = t.llm_ttft_ms / 1000
    assert all(base * 0.8 <= durations(t, "u", n)[0] <= base * 1.2 for n in range(50))
    assert PROFILES["instant"].rng("alice", 1) is None


@pytest.mark.parametrize("kwargs, fragment", [
    ({"profile": "slowest"}, "unknown timing profile 'slowest'"),
    ({"flags": {"llm_ttft_ms": "soon"}}, "--timing llm_ttft_ms: llm_ttft_ms must be a number"),
    ({"env": {"ASTRBOT_SIM_JITTER": "3"}}, "ASTRBOT_SIM_JITTER: jitter must be between 0 and 1"),
    ({"env": {"ASTRBOT_SIM_LLM_TTFT_MS": "-5"}}, "between 0 and 600000"),
    ({"file": "nowhere.toml"}, "timing file nowhere.toml"),
])
def test_bad_settings_are_refused_in_one_sentence(kwargs, fragment):
    with pytest.raises(TimingError, match=fragment.replace("(", r"\(")):
        resolve(**{"env": {}, **kwargs})


def test_bad_files_are_refused(tmp_path):
    unknown = tmp_path / "t.toml"
    unknown.write_text("llm_speed = 3\n")
    with pytest.raises(TimingError, match="unknown setting.*llm_speed"):
        resolve(file=unknown, env={})
    broken = tmp_path / "b.yaml"
    broken.write_text("a: [1,\n")
    with pytest.raises(TimingError, match="not valid"):
        resolve(file=broken, env={})
    with pytest.raises(TimingError, match="NAME=VALUE"):
        timing.parse_assignments(["llm_ttft_ms"])
    assert timing.parse_assignments(["llm-ttft-ms=5"]) == {"llm_ttft_ms": "5"}


def test_the_command_line_refuses_a_bad_setting_with_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "simulator", "--data-dir", str(tmp_path),
                           "--timing", "jitter=2"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "astrbot-sim: --timing jitter: jitter must be between 0 and 1, got '2'"]
