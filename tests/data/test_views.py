from __future__ import annotations

from pathlib import Path

import pytest

from dialog.data.nlu_bench import load_benchmark
from dialog.data.views import (
    bio_tags,
    dst_turns,
    nlg_pairs,
    nlu_examples,
    policy_turns,
    to_dataset,
    tokenize,
)
from dialog.errors import DataError
from dialog.types import ActType, SlotSpan


def test_bio_tags_from_character_spans() -> None:
    text = "Book it in San Jose at 7:30 pm, please."
    start = text.index("San Jose")
    tokens, tags = bio_tags(text, [SlotSpan("city", start, start + 8), SlotSpan("time", 23, 30)])
    assert list(zip(tokens, tags, strict=True))[3:9] == [
        ("San", "B-city"), ("Jose", "I-city"), ("at", "O"), ("7", "B-time"), (":", "I-time"), ("30", "I-time")
    ]  # fmt: skip
    assert tags[9] == "I-time" and tags[-1] == "O"
    with pytest.raises(DataError, match="covers no token"):
        bio_tags("hi there", [SlotSpan("x", 2, 3)])
    assert [t for t, _, _ in tokenize("what's up?")] == ["what's", "up", "?"]


def test_views_of_the_first_dev_dialogue(dev_dialogues: list) -> None:  # type: ignore[type-arg]
    dialogue = dev_dialogues[:1]
    nlu = list(nlu_examples(dialogue))
    assert nlu[1].tags[nlu[1].tokens.index("San")] == "B-location"
    assert nlu[1].prev_system_acts and all(a.act is ActType.REQUEST for a in nlu[1].prev_system_acts)
    dst = list(dst_turns(dialogue))
    assert dst[0].state_before.slot_values == {} and dst[1].state_before == dst[0].state_after
    assert dict(dst[1].state_after.slot_values)["location"] == ("San Jose",)
    policy = list(policy_turns(dialogue))
    assert policy[0].state == dst[0].state_after
    assert any(p.db_method for p in policy) and all(p.system_acts for p in policy)
    nlg = list(nlg_pairs(dialogue))
    assert nlg[0].utterance == dialogue[0].turns[1].utterance and nlg[0].acts == dialogue[0].turns[1].acts


def test_views_cover_every_user_and_system_frame(dev_dialogues: list) -> None:  # type: ignore[type-arg]
    user_frames = sum(len(t.frames) for d in dev_dialogues for t in d.turns if t.speaker.value == "USER")
    system_frames = sum(len(t.frames) for d in dev_dialogues for t in d.turns if t.speaker.value == "SYSTEM")
    assert sum(1 for _ in nlu_examples(dev_dialogues)) == user_frames
    assert sum(1 for _ in dst_turns(dev_dialogues)) == user_frames
    assert sum(1 for _ in policy_turns(dev_dialogues)) == system_frames


def test_dataset_views(dev_dialogues: list) -> None:  # type: ignore[type-arg]
    subset = dev_dialogues[:20]
    nlu = to_dataset(nlu_examples(subset))
    assert {"text", "tokens", "tags", "intent", "act_types", "prev_system_acts"} <= set(nlu.column_names)
    assert len(nlu[0]["tokens"]) == len(nlu[0]["tags"])
    dst = to_dataset(dst_turns(subset))
    assert dst[2]["state_after"]["active_intent"] != ""
    assert len(to_dataset(policy_turns(subset))) == len(to_dataset(nlg_pairs(subset)))
    with pytest.raises(DataError, match="no examples"):
        to_dataset([])


@pytest.mark.parametrize(
    ("name", "sizes", "n_intents"),
    [("snips", (13084, 700, 700), 7), ("atis", (4478, 500, 893), None)],
)
def test_nlu_benchmarks(
    data_dir: Path, name: str, sizes: tuple[int, int, int], n_intents: int | None
) -> None:
    splits = [load_benchmark(name, data_dir, s) for s in ("train", "dev", "test")]
    assert tuple(len(s) for s in splits) == sizes
    assert all(len(e.tokens) == len(e.tags) for e in splits[2])
    if n_intents is not None:
        assert len({e.intent for e in splits[0]}) == n_intents
    with pytest.raises(DataError, match="unknown NLU benchmark"):
        load_benchmark("banking77", data_dir, "train")


def test_benchmark_length_mismatch_is_located(tmp_path: Path) -> None:
    split = tmp_path / "nlu" / "snips" / "train"
    split.mkdir(parents=True)
    (split / "seq.in").write_text("play some jazz\nhi\n")
    (split / "seq.out").write_text("O O B-genre\nO O\n")
    (split / "label").write_text("PlayMusic\nGreet\n")
    with pytest.raises(DataError, match=r"seq.out:2: 2 tags for 1 words"):
        load_benchmark("snips", tmp_path, "train")
