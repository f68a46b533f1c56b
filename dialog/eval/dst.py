"""The official SGD state-tracking metrics (Rastogi et al. 2020, the DSTC8 scorer's definitions),
computed on SGD dialogue JSON, so predictions written by ``tod eval dst --predictions-out`` can be
scored by this module or by the official script alike.

Per frame of each user turn: active intent accuracy; requested slots F1 (1.0 when both sets are
empty); average goal accuracy over the slots active in the reference; joint goal accuracy, the product
over every slot of the service (categorical: exact match of the first reference value; free-form:
the best fuzzy token-sort ratio against any reference value). Frames are macro-averaged, overall and
for services seen / unseen in training. ``evaluate_simpletod_dst`` scores SimpleTOD's beliefs so.
"""

from __future__ import annotations

import collections
import gzip
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, utils

from dialog.data.sgd import reference
from dialog.e2e.align import MIN_SLOT, align
from dialog.e2e.simpletod import SimpleTOD
from dialog.e2e.track import track
from dialog.schema import Schema
from dialog.types import GenerationSettings

METRICS = (
    "joint_goal_accuracy",
    "average_goal_accuracy",
    "active_intent_accuracy",
    "requested_slots_f1",
    "joint_cat_accuracy",
    "joint_noncat_accuracy",
)


def f1(ref: Iterable[str], hyp: Iterable[str]) -> float:
    r, h = collections.Counter(ref), collections.Counter(hyp)
    true, positive, hit = sum(r.values()), sum(h.values()), sum((r & h).values())
    precision = hit / positive if positive else 1.0
    recall = hit / true if true else 1.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def fuzzy(ref: str, hyp: str) -> float:
    """The scorer's fuzzywuzzy ``token_sort_ratio`` (with its default full processing) in 0..1."""
    return fuzz.token_sort_ratio(ref, hyp, processor=utils.default_process) / 100.0


def slot_scores(
    ref: Mapping[str, Sequence[str]], hyp: Mapping[str, Sequence[str]], schema: Schema
) -> list[tuple[float, bool, bool]]:
    """(score, active in the reference, categorical) for every slot of the service."""
    out = []
    for slot in schema.slots:
        if slot.name in ref:
            if hyp.get(slot.name):
                value = hyp[slot.name][0]
                if slot.categorical:
                    score = float(ref[slot.name][0] == value)
                else:
                    score = max((fuzzy(r, value) for r in ref[slot.name]), default=0.0)
            else:
                score = 0.0
            out.append((score, True, slot.categorical))
        else:
            out.append((0.0 if slot.name in hyp else 1.0, False, slot.categorical))
    return out


def _prod(values: Iterable[float]) -> float:
    out = 1.0
    for v in values:
        out *= v
    return out


def frame_metrics(ref: Mapping[str, Any], hyp: Mapping[str, Any], schema: Schema) -> dict[str, float]:
    """The metrics of one frame; ``ref`` and ``hyp`` are SGD ``state`` objects."""
    scores = slot_scores(ref["slot_values"], hyp["slot_values"], schema)
    out = {
        "active_intent_accuracy": float(ref["active_intent"] == hyp["active_intent"]),
        "requested_slots_f1": f1(ref["requested_slots"], hyp["requested_slots"]),
    }
    active = [s for s, a, _ in scores if a]
    if active:
        out["average_goal_accuracy"] = sum(active) / len(active)
    if scores:
        out["joint_goal_accuracy"] = _prod(s for s, _, _ in scores)
    cat = [s for s, _, c in scores if c]
    noncat = [s for s, _, c in scores if not c]
    if cat:
        out["joint_cat_accuracy"] = _prod(cat)
    if noncat:
        out["joint_noncat_accuracy"] = _prod(noncat)
    return out


def score(
    references: Sequence[Mapping[str, Any]],
    hypotheses: Sequence[Mapping[str, Any]],
    schemas: Mapping[str, Schema],
    seen: set[str],
) -> dict[str, Any]:
    """Aggregate metrics of SGD dialogue dicts; hypotheses must have the references' user frames."""
    by_id = {d["dialogue_id"]: d for d in references}
    buckets: dict[str, dict[str, list[float]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for hyp in hypotheses:
        ref = by_id.get(hyp["dialogue_id"])
        if ref is None:
            raise ValueError(f"dialogue {hyp['dialogue_id']} is not in the reference data")
        for t, (rt, ht) in enumerate(zip(ref["turns"], hyp["turns"], strict=True)):
            if rt["speaker"] != ht["speaker"] or rt["utterance"] != ht["utterance"]:
                raise ValueError(f"dialogue {hyp['dialogue_id']} turn {t}: turns do not match")
            if rt["speaker"] != "USER":
                continue
            frames = {f["service"]: f for f in ht["frames"]}
            for rf in rt["frames"]:
                service = rf["service"]
                if service not in frames:
                    raise ValueError(f"dialogue {hyp['dialogue_id']} turn {t}: no frame for {service}")
                metrics = frame_metrics(rf["state"], frames[service]["state"], schemas[service])
                for key in ("all", "seen" if service in seen else "unseen", f"service:{service}"):
                    for name, value in metrics.items():
                        buckets[key][name].append(value)
    out: dict[str, Any] = {}
    for key, values in buckets.items():
        out[key] = {name: sum(v) / len(v) for name, v in values.items()}
        out[key]["n_frames"] = len(values["active_intent_accuracy"])
    return out


def flat_report(aggregate: Mapping[str, Any]) -> dict[str, Any]:
    """The architecture's flat object: the metrics, then under ``seen`` / ``unseen`` and per service."""
    everything = aggregate.get("all", {})
    out: dict[str, Any] = {k: everything.get(k) for k in METRICS}
    out["n_frames"] = everything.get("n_frames", 0)
    for group in ("seen", "unseen"):
        if group in aggregate:
            out[group] = {k: aggregate[group].get(k) for k in (*METRICS, "n_frames")}
    out["per_service"] = {
        k.split(":", 1)[1]: {m: v.get(m) for m in ("joint_goal_accuracy", "n_frames")}
        for k, v in sorted(aggregate.items())
        if k.startswith("service:")
    }
    return out


def predictions_only(dialogue: Mapping[str, Any]) -> dict[str, Any]:
    """A tracked dialogue as it may be written: each user frame keeps its service and the tracker's
    ``state`` only. The reference ``actions`` and ``slots`` are left empty, so that no figure computed
    from the file (the official scorer's slot tagging F1 among them) reads the annotation as the
    model's. System turns are the dialogue's input and stay as they are."""
    turns = []
    for turn in dialogue["turns"]:
        if turn["speaker"] == "USER":
            frames = [
                {"actions": [], "service": f["service"], "slots": [], "state": f["state"]}
                for f in turn["frames"]
            ]
            turn = {**turn, "frames": frames}
        turns.append(turn)
    return {**dialogue, "turns": turns}


def write_predictions(
    dialogues: Sequence[Mapping[str, Any]], directory: Path, per_file: int = 128
) -> list[Path]:
    """SGD dialogue JSON files (``dialogues_001.json``, ...), as the official scorer reads them, with
    only what the tracker predicted in the user frames (``predictions_only``)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, start in enumerate(range(0, len(dialogues), per_file), 1):
        path = directory / f"dialogues_{n:03d}.json"
        chunk = [predictions_only(d) for d in dialogues[start : start + per_file]]
        path.write_text(json.dumps(chunk, indent=1) + "\n")
        paths.append(path)
    return paths


def read_predictions(directory: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(directory.glob("dialogues_*.json*")):
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rt", encoding="utf-8") as f:
            out += json.load(f)
    return out


def evaluate_simpletod_dst(
    model: SimpleTOD,
    data_dir: str | None,
    split: str = "dev",
    limit: int | None = None,
    predictions_out: Path | None = None,
    progress: bool = False,
    constrain: bool = True,
    sample: int | None = None,
    settings: GenerationSettings | None = None,
    trained: Sequence[Schema] = (),
    variant: int | None = None,
    min_cosine: float = MIN_SLOT,
) -> dict[str, Any]:
    """The official SGD metrics of SimpleTOD's beliefs (written with ``settings``, greedy when None),
    and how many written items were invalid; with ``trained`` (the services the model was trained on),
    the other services' names are aligned with trained names first (``dialog.e2e.align``, matches of at
    least ``min_cosine``); with
    ``variant``, the schemas and dialogues are in SGD-X rewording 1..5."""
    import numpy as np

    dialogues, schemas, seen = reference(data_dir, split, limit, variant, sample)
    alignment = align(schemas, trained, min_slot=min_cosine)
    tracked = track(
        model,
        [alignment.dialogue(d) for d in dialogues],
        [alignment.schema(s) for s in schemas],
        constrain,
        progress,
        settings,
    )
    hypotheses = [alignment.dialogue(d, back=True).to_sgd() for d in tracked.dialogues]
    if predictions_out is not None:
        write_predictions(hypotheses, predictions_out)
    by_name: Mapping[str, Schema] = {s.service: s for s in schemas}
    report = flat_report(score([d.to_sgd() for d in dialogues], hypotheses, by_name, seen))
    report.update(
        n_dialogues=len(dialogues),
        constrained=constrain,
        beams=settings.num_beams if settings else 1,
        aligned=alignment.describe(),
        align_min=min_cosine,
        invalid_items=tracked.invalid,
        invalid_per_turn=round(tracked.invalid / max(1, tracked.turns), 4),
        invalid_examples=tracked.examples,
        latency_ms_p50=round(float(np.percentile(tracked.ms, 50)), 1) if tracked.ms else None,
        latency_ms_p99=round(float(np.percentile(tracked.ms, 99)), 1) if tracked.ms else None,
    )
    return report
