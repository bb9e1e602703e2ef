"""conformance/hostile.py: deterministic, every class present, every client frame type of the
AsyncAPI document covered, and each payload really is what its label says."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from conformance import hostile as h
from conformance.contract import load_yaml

KINDS = tuple(h.KINDS)


@pytest.fixture(scope="module", params=("quick", "full"))
def corpus(request) -> dict[str, list[h.Hostile]]:
    return {kind: h.ws_frames(kind, depth=request.param) for kind in KINDS}


@pytest.fixture(scope="module")
def full() -> dict[str, list[h.Hostile]]:
    return {kind: h.ws_frames(kind, depth="full") for kind in KINDS}


def lone_surrogates(value) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(lone_surrogates(v) for v in value)
    if isinstance(value, dict):
        return any(lone_surrogates(k) or lone_surrogates(v) for k, v in value.items())
    return False


def not_json(constant):
    raise ValueError(constant)


def test_same_seed_same_corpus_other_seed_other_mutations():
    assert h.ws_frames("chat", depth="full", seed=3) == h.ws_frames("chat", depth="full", seed=3)
    a = [x for x in h.ws_frames("chat", depth="full", seed=3) if x.cls == h.MUTATION]
    b = [x for x in h.ws_frames("chat", depth="full", seed=4) if x.cls == h.MUTATION]
    assert a != b
    assert h.json_bodies("full", fields=("a",)) == h.json_bodies("full", fields=("a",))


def test_quick_has_tens_full_has_thousands(full):
    quick = sum(len(h.ws_frames(kind)) for kind in KINDS)
    assert 30 <= quick <= 200
    assert sum(len(frames) for frames in full.values()) >= 5_000


def test_every_class_in_both_depths(corpus):
    for kind, frames in corpus.items():
        classes = Counter(x.cls for x in frames)
        expected = set(h.WS_CLASSES) - ({h.PART} if kind == "live" else set())
        assert expected <= set(classes), (kind, expected - set(classes))
        assert all(n >= 1 for n in classes.values())


def test_full_adds_pairs_and_mutations(full):
    for frames in full.values():
        classes = Counter(x.cls for x in frames)
        assert classes[h.WRONG_PAIR] >= 40 and classes[h.MUTATION] == 1_000


def test_labels_unique(corpus):
    for frames in corpus.values():
        labels = [x.label for x in frames]
        assert len(labels) == len(set(labels))


def test_every_client_frame_type_and_field_covered(full):
    messages = load_yaml("live-api.asyncapi.yaml")["components"]["messages"].values()
    for message in messages:
        meta = message["x-astrbot-frame"]
        if meta["direction"] != "client":
            continue
        kind = meta["mode"]
        labels = {x.label for x in full[kind]}
        for field in message["payload"].get("properties", {}):
            for wrong, value in h.WRONG_VALUES:
                # every JSON type the schema refuses there is sent (one it takes is no hostile)
                frame = {**h.valid_frame(kind, meta["type"]), field: value}
                if wrong != "huge-number" and h.is_valid(kind, frame):
                    continue
                assert any(lab.endswith(f"/{meta['type']}/{field}/{wrong}") for lab in labels), \
                    (kind, meta["type"], field, wrong)


def test_wrong_type_frames_are_invalid_frames(full):
    for kind, frames in full.items():
        for x in frames:
            if x.cls in (h.WRONG_TYPE, h.MISSING, h.DISCRIMINATOR, h.WRONG_PAIR, h.MUTATION):
                try:
                    frame = json.loads(x.payload)
                except ValueError:
                    continue  # a huge number or a broken mutation: invalid all the same
                assert not h.is_valid(kind, frame), x.label


def test_the_field_named_holds_the_wrong_type(full):
    types = {"null": type(None), "bool": bool, "number": int, "list": list, "object": dict,
             "string": str}
    for frames in full.values():
        for x in frames:
            if x.cls not in (h.WRONG_TYPE, h.DISCRIMINATOR) or "/bare/" in x.label:
                continue
            _, _, field, vname = x.label.split("/")
            if vname == "huge-number":
                assert f'"{field}": ' + "9" * h.HUGE_DIGITS in x.payload
            else:
                assert type(json.loads(x.payload)[field]) is types[vname], x.label


def test_missing_field_is_missing(full):
    for frames in full.values():
        for x in frames:
            if x.cls == h.MISSING:
                assert x.label.split("/")[2] not in json.loads(x.payload)


def test_t_itself_as_list_object_number_null(corpus):
    for frames in corpus.values():
        bare = {x.label: json.loads(x.payload) for x in frames
                if x.label in h.QUICK_DISCRIMINATORS}
        assert bare["discriminator/bare/t/list"]["t"] == [1]
        assert bare["discriminator/bare/t/object"]["t"] == {"a": 1}
        assert bare["discriminator/bare/t/null"]["t"] is None


def test_deep_frames_are_as_deep_as_labelled(corpus):
    for frames in corpus.values():
        deep = [x for x in frames if x.cls == h.DEEP]
        assert {int(x.label.rsplit("/", 1)[1]) for x in deep} == set(h.DEPTHS)
        for x in deep:
            levels = int(x.label.rsplit("/", 1)[1])
            assert h.nesting_depth(x.payload) in (levels, levels + 1), x.label
        bare = {x.label: x.payload for x in deep if "/bare/" in x.label}
        assert bare["deep/bare/list/2000"] == "[" * 2_000 + "]" * 2_000


def test_surrogates_are_lone_surrogate_escapes(corpus):
    for kind, frames in corpus.items():
        turn = [x for x in frames if x.cls == h.SURROGATE_TURN]
        other = [x for x in frames if x.cls == h.SURROGATE]
        assert turn and other
        for x in turn + other:
            assert x.payload.isascii() and "\\ud" in x.payload
            assert lone_surrogates(json.loads(x.payload)), x.label
        for x in turn:  # a valid turn but for the surrogate: it must reach the turn's text
            frame = json.loads(x.payload)
            field = x.label.split("/")[2]
            assert lone_surrogates(frame[field])
            clean = json.loads(x.payload.replace("\\ud800", "A").replace("\\udfff", "B")
                               .replace("\\udc00", "C"))
            assert h.is_valid(kind, clean), x.label


def test_oversize_is_above_one_mib_and_still_json(corpus):
    for frames in corpus.values():
        sizes = []
        for x in frames:
            if x.cls == h.OVERSIZE:
                assert len(x.payload.encode()) == int(x.label.rsplit("/", 1)[1])
                assert json.loads(x.payload)["t"] == "hostile_oversize"
                sizes.append(len(x.payload))
        assert min(sizes) > h.MIB and max(sizes) >= 4 * h.MIB


def test_binary_and_invalid_utf8_are_bytes(corpus):
    for frames in corpus.values():
        for x in frames:
            if x.cls in (h.BINARY, h.INVALID_UTF8) or "/binary/" in x.label:
                assert isinstance(x.payload, bytes)
            else:
                assert isinstance(x.payload, str), x.label
            if x.cls == h.INVALID_UTF8:
                with pytest.raises(UnicodeDecodeError):
                    x.payload.decode("utf-8")


def test_non_objects_garbage_and_empty(corpus):
    for frames in corpus.values():
        for x in frames:
            if x.cls == h.NON_OBJECT:
                assert not isinstance(json.loads(x.payload), dict)
            if x.cls == h.GARBAGE:  # NaN is no JSON either (RFC 8259 section 6)
                with pytest.raises(ValueError):
                    json.loads(x.payload, parse_constant=not_json)
            if x.cls == h.EMPTY:
                assert not x.payload.strip()


def test_unknown_types_are_not_in_the_contract(corpus):
    for kind, frames in corpus.items():
        known = set(h.client_messages(kind))
        for x in frames:
            if x.cls == h.UNKNOWN:
                assert json.loads(x.payload)["t"] not in known


def test_json_bodies_are_what_they_say():
    bodies = {b.label: b for b in h.json_bodies("full", fields=("username", "password"))}
    assert h.nesting_depth(bodies["deep/list/100000"].body.decode()) == 100_000
    assert h.nesting_depth(bodies["deep/object/2000"].body.decode()) == 2_000
    assert len(bodies["huge-number/top/10000-digits"].body) == 10_000
    assert lone_surrogates(json.loads(bodies["surrogate/key/d800"].body))
    assert lone_surrogates(json.loads(bodies["field/password/surrogate"].body)["password"])
    with pytest.raises(UnicodeDecodeError):
        bodies["invalid-utf8/value/cesu-d800"].body.decode()
    assert json.loads(bodies["duplicate-keys/top/-"].body) == {"a": [1]}
    assert bodies["empty/body/-"].body == b""
    assert not isinstance(json.loads(bodies["wrong-top/list/-"].body), dict)
    quick = h.json_bodies("quick", fields=("username", "password"))
    assert any("field/username/" in b.label for b in quick)
    assert not any("field/password/" in b.label for b in quick)


def test_query_values_are_what_they_say():
    values = {q.label: q for q in h.query_values("full")}
    assert values["surrogate/d800"].encoded == "%ED%A0%80"
    assert len(values["long/64KiB"].encoded) == 65_536
    assert values["repeated/100"].repeat == 100
    assert values["huge-number/10000-digits"].encoded == "9" * 10_000
    assert len(h.query_values("quick")) < len(values)


def test_bad_arguments_raise():
    with pytest.raises(ValueError):
        h.ws_frames("voice")
    with pytest.raises(ValueError):
        h.ws_frames("live", depth="deep")
