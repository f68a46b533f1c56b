"""Simulated training dialogues for the single model (dialog/e2e/simulate.py)."""

from __future__ import annotations

from dialog.backend import open_backends
from dialog.e2e.format import parse_actions, parse_belief
from dialog.e2e.simulate import simulated_dialogues
from dialog.e2e.train import segments
from dialog.types import Speaker


def test_simulated_dialogues_become_sequences_the_schema_reads_back(showcase) -> None:  # type: ignore[no-untyped-def]
    schemas = list(showcase.values())
    dialogues = list(simulated_dialogues(schemas, open_backends(schemas), 4, seed="t", teacher="form"))
    assert 6 <= len(dialogues) <= 12  # only the teacher's successes are kept
    assert {d.dialogue_id.split("_")[1] for d in dialogues} == set(showcase)
    for dialogue in dialogues:
        own = dialogue.dialogue_id.split("_")[1]
        assert own in dialogue.services and set(dialogue.services) <= set(showcase)
        speakers = [t.speaker for t in dialogue.turns]
        assert speakers == [Speaker.USER, Speaker.SYSTEM] * (len(speakers) // 2)
        assert all(t.utterance.strip() for t in dialogue.turns)
    found = segments(dialogues, schemas)
    assert len(found) == sum(len(d.turns) // 2 for d in dialogues)
    booked = 0
    for seg in found:
        parsed = parse_belief(seg.belief, showcase)
        assert not parsed.invalid, seg.belief
        for service, frame in parsed.frames.items():
            assert f"{service.lower()} :" in seg.services  # a service it was shown
            for slot, (value,) in frame.slot_values.items():
                spec = showcase[service].slot(slot)
                # copyable: said before or offered; a typed slot holds its stored form ("19:30" for
                # "half past seven"), which SimpleTOD cannot copy (noted in issue 29's closing note)
                if not spec.categorical and spec.type == "text":
                    context = f"{seg.system} {seg.user} {seg.previous} {seg.offers}".lower()
                    assert value.lower() in context, (slot, value, seg)
        service = next(iter(parsed.frames), None)
        _, invalid = parse_actions(seg.actions, showcase.get(service) if service else None)
        assert not invalid, seg.actions
        booked += seg.db == "success"
    assert booked >= 1  # transactions reach the sequences as their result
