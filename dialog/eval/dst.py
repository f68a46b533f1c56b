"""The official SGD state-tracking metrics (Rastogi et al. 2020, the DSTC8 scorer's definitions),
computed on SGD dialogue JSON, so predictions written by ``tod eval dst --predictions-out`` can be
scored by this module or by the official script alike.

Per frame of each user turn: active intent accuracy; requested slots F1 (1.0 when both sets are
empty); average goal accuracy over the slots active in the reference; joint goal accuracy, the product
over every slot of the service (categorical: exact match of the first reference value; free-form:
the best fuzzy token-sort ratio against any reference value). Frames are macro-averaged, overall and
for services seen / unseen in training. ``evaluate_tracker`` is the one evaluation of every tracker
(the BERT DST, SimpleTOD, predictions written to disk), each given as a ``Tracker``.
"""

from __future__ import annotations

import collections
import gzip
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rapidfuzz import fuzz, utils

from dialog.data.sgd import reference
from dialog.e2e.align import MIN_SLOT, align
from dialog.e2e.simpletod import SimpleTOD
from dialog.e2e.track import track
from dialog.errors import TodError
from dialog.infra import artifacts
from dialog.schema import Schema
from dialog.types import Dialogue, GenerationSettings, Speaker

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


@dataclass(frozen=True)
class Tracked:
    """What a tracker made of a split's dialogues: SGD JSON in the split's own names (only the
    dialogues it returns are scored), the seconds it took, and what it adds to the report."""

    hypotheses: list[dict[str, Any]]
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


#: A tracker under evaluation: (the split's dialogues, its schemas) -> what it tracked.
Tracker = Callable[[list[Dialogue], list[Schema]], Tracked]


def evaluate_tracker(
    track: Tracker,
    data_dir: str | None,
    split: str = "dev",
    limit: int | None = None,
    predictions_out: Path | None = None,
    variant: int | None = None,
    sample: int | None = None,
) -> dict[str, Any]:
    """The one SGD evaluation of every tracker (the BERT DST, SimpleTOD, predictions on disk): the
    split's dialogues (the first ``limit``, a ``sample``, in SGD-X rewording ``variant`` 1..5) tracked
    by ``track``, written to ``predictions_out`` (the tracker's state only) and scored with the
    official definitions, overall and for seen / unseen services."""
    dialogues, schemas, seen = reference(data_dir, split, limit, variant, sample)
    tracked = track(dialogues, schemas)
    if predictions_out is not None:
        write_predictions(tracked.hypotheses, predictions_out)
    return score_tracked(dialogues, schemas, seen, tracked)


def score_tracked(
    dialogues: Sequence[Dialogue], schemas: Sequence[Schema], seen: set[str], tracked: Tracked
) -> dict[str, Any]:
    """The flat report of ``tracked`` against the reference ``dialogues``."""
    try:
        aggregate = score(
            [d.to_sgd() for d in dialogues], tracked.hypotheses, {s.service: s for s in schemas}, seen
        )
    except (KeyError, ValueError) as exc:
        raise TodError(f"the tracked dialogues do not fit the reference: {exc}") from None
    report = flat_report(aggregate)
    report["n_dialogues"] = len(tracked.hypotheses)
    if tracked.seconds:
        report["ms_per_frame_batched"] = round(1000 * tracked.seconds / max(1, report["n_frames"]), 2)
    report.update(tracked.extra)
    return report


def predictions_tracker(directory: Path) -> Tracker:
    """Predictions already written (SGD JSON ``dialogues_*.json``, e.g. by ``--predictions-out`` or
    another system), read as a tracker's output."""
    hypotheses = read_predictions(directory)
    if not hypotheses:
        raise TodError(f"no dialogues_*.json files in {directory}")

    def track(_dialogues: list[Dialogue], _schemas: list[Schema]) -> Tracked:
        return Tracked(hypotheses)

    return track


def bert_tracker(dst: Any, progress: bool = False, latency: bool = True) -> Tracker:
    """The BERT DST, each dialogue tracked from its own predicted states; with ``latency``, the p50 and
    p99 of batch-of-one tracking too."""
    from dialog.dst.sgd import track_dialogues

    def track(dialogues: list[Dialogue], schemas: list[Schema]) -> Tracked:
        bound = dst.with_schemas(schemas)
        start = time.perf_counter()
        hypotheses = [d.to_sgd() for d in track_dialogues(bound, dialogues, progress=progress)]
        seconds = time.perf_counter() - start
        extra: dict[str, Any] = {}
        if latency:
            extra["latency_ms_p50"], extra["latency_ms_p99"] = turn_latency(bound, dialogues)
        return Tracked(hypotheses, seconds, extra)

    return track


def turn_latency(dst: Any, dialogues: Sequence[Dialogue], n: int = 200) -> tuple[float, float]:
    """p50 and p99 of the BERT DST's batch-of-one tracking (one frame, encoder included) over ``n``
    user turns."""
    from dialog.dst.bert import latency_ms

    turns, system = [], ""
    for d in dialogues:
        for t in d.turns:
            if t.speaker is Speaker.SYSTEM:
                system = t.utterance
            elif t.frames and t.frames[0].service in dst.schemas:
                turns.append((dst.schemas[t.frames[0].service], system, t.utterance))
        if len(turns) >= n:
            break
    times = latency_ms(dst, turns[:n])
    if not times:
        return 0.0, 0.0
    return round(float(np.percentile(times, 50)), 2), round(float(np.percentile(times, 99)), 2)


def simpletod_tracker(
    model: SimpleTOD,
    progress: bool = False,
    constrain: bool = True,
    settings: GenerationSettings | None = None,
    trained: Sequence[Schema] = (),
    min_cosine: float = MIN_SLOT,
) -> Tracker:
    """SimpleTOD's beliefs (written with ``settings``, greedy when None), counting the items the
    schemas do not allow; with ``trained`` (the services the model was trained on), the other
    services' names are aligned with trained names first (``dialog.e2e.align``, matches of at least
    ``min_cosine``) and read back in their own names."""

    def track_(dialogues: list[Dialogue], schemas: list[Schema]) -> Tracked:
        alignment = align(schemas, trained, min_slot=min_cosine)
        start = time.perf_counter()
        tracked = track(
            model,
            [alignment.dialogue(d) for d in dialogues],
            [alignment.schema(s) for s in schemas],
            constrain,
            progress,
            settings,
        )
        seconds = time.perf_counter() - start
        hypotheses = [alignment.dialogue(d, back=True).to_sgd() for d in tracked.dialogues]
        ms = tracked.ms
        return Tracked(
            hypotheses,
            seconds,
            {
                "constrained": constrain,
                "beams": settings.num_beams if settings else 1,
                "aligned": alignment.describe(),
                "align_min": min_cosine,
                "invalid_items": tracked.invalid,
                "invalid_per_turn": round(tracked.invalid / max(1, tracked.turns), 4),
                "invalid_examples": tracked.examples,
                "latency_ms_p50": round(float(np.percentile(ms, 50)), 1) if ms else None,
                "latency_ms_p99": round(float(np.percentile(ms, 99)), 1) if ms else None,
            },
        )

    return track_


@dataclass(frozen=True)
class TrackerOptions:
    """What `tod eval dst` may ask of a model's tracker: ``int8`` (the BERT DST), ``constrain``,
    ``beams``, ``aligned`` and ``align_min`` (SimpleTOD); ``progress`` shows a bar."""

    progress: bool = False
    int8: bool = False
    constrain: bool = True
    beams: int = 1
    aligned: bool = True
    align_min: float | None = None


def _bert(model: str, options: TrackerOptions) -> Tracker:
    from dialog.dst.bert import BertDST

    if options.beams != 1:
        raise TodError("--beams applies to simpletod, not to the BERT tracker")
    return bert_tracker(BertDST.load(model, quantized=options.int8), options.progress)


def _simpletod(model: str, options: TrackerOptions) -> Tracker:
    if options.int8:
        raise TodError("--int8 applies to the BERT tracker, not to simpletod")
    lm = SimpleTOD.load(model)
    return simpletod_tracker(
        lm,
        options.progress,
        options.constrain,
        GenerationSettings(num_beams=options.beams),
        trained=lm.trained if options.aligned else (),
        min_cosine=MIN_SLOT if options.align_min is None else options.align_min,
    )


#: The tracker of each kind of model (the ``kind`` its meta.json records).
TRACKERS: dict[str, Callable[[str, TrackerOptions], Tracker]] = {"dst-bert": _bert, "simpletod": _simpletod}


def tracker_for(model: str, options: TrackerOptions | None = None) -> Tracker:
    """The tracker of a model directory or committed name, by its kind."""
    found = artifacts.kind(model)
    if found not in TRACKERS:
        what = f"a {found!r} model" if found else "no model (no meta.json with a kind)"
        raise TodError(f"{model}: {what} to track with; trackers are {', '.join(sorted(TRACKERS))}")
    return TRACKERS[found](model, options or TrackerOptions())
