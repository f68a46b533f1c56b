"""Artifacts made from trained ones (``tod export ...``): a SimpleTOD model stored as int8 rows (or the mean
of fine-tuned copies), the Transformer NLG's output-layer shortlist and how it loads for use, the fluency
model, an NLU ensemble of seed models, a benchmark NLU's intent-slot table. Each says what it wrote and
the figure to check it by; measure before committing (docs/results.md, docs/log/)."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from sklearn.metrics import roc_auc_score

from dialog.data.nlu_bench import load_benchmark
from dialog.data.sgd import load_dialogues
from dialog.data.views import nlg_pairs
from dialog.e2e.simpletod import SimpleTOD, copy_side_files
from dialog.errors import TodError
from dialog.eval.fluency import NgramLM, delexicalised_turns
from dialog.eval.nlu import score_targets
from dialog.generation import shortlist
from dialog.infra.artifacts import kind, resolve, update_meta
from dialog.nlg.seq2seq import KIND, Seq2SeqNLG
from dialog.nlg.train import examples, sgd_schemas
from dialog.nlu.bert import BertNLU, intent_slot_table
from dialog.nlu.targets import benchmark_targets


def simpletod_int8(models: Sequence[str | Path], out: Path) -> dict[str, Any]:
    """The SimpleTOD model (several: the mean of their weights, a "model soup" of copies fine-tuned
    from one another; Wortsman et al. 2022) saved with its large matrices as int8 rows with one fp16
    scale per row, restored to floats on loading; the first model's side files go along."""

    if not models:
        raise TodError("give the model to store (--model), or several to average")
    loaded = [SimpleTOD.load(path) for path in models]
    first = loaded[0]
    states = [m.model.state_dict() for m in loaded]
    if any(s.keys() != states[0].keys() for s in states[1:]):
        raise TodError("the models do not have the same parameters: only fine-tuned copies can be averaged")
    with torch.no_grad():
        if len(loaded) > 1:
            mean = {
                key: torch.stack([s[key].float() for s in states]).mean(0).to(value.dtype)
                if value.is_floating_point()
                else value
                for key, value in states[0].items()
            }
            first.model.load_state_dict(mean)
        before = {k: v.detach().clone() for k, v in first.model.named_parameters() if v.requires_grad}
        names = ", ".join(map(str, models))
        first.meta["weights"] = "int8 rows, fp16 scales" + (
            f"; the mean of {names}" if len(models) > 1 else ""
        )
        first.save(out, int8=True)
        copy_side_files(models[0], out)
        after = dict(SimpleTOD.load(out).model.named_parameters())
        worst = max(
            float((after[k] - v).abs().max() / v.abs().max().clamp_min(1e-12)) for k, v in before.items()
        )
    return {
        "out": str(out),
        "models": [str(m) for m in models],
        "mib": round((out / "weights.safetensors").stat().st_size / 2**20, 2),
        "largest_relative_change": round(worst, 5),  # int8 rounding, relative to a tensor's largest weight
    }


def nlg_shortlist(model: str, data_dir: str | None) -> dict[str, Any]:
    """The output-layer shortlist of the Transformer NLG ``model`` (every word piece of SGD train's
    delexicalised system turns), written into its directory."""
    nlg = Seq2SeqNLG.load(model, int8=False, shortlist=False).with_schemas(sgd_schemas(data_dir, "train"))
    pairs = [p for p in nlg_pairs(load_dialogues(data_dir, "train")) if p.acts]
    made, _ = examples(nlg, pairs)
    ids = shortlist.target_ids(nlg.tokenizer, (e.target for e in made))
    shortlist.write(resolve(model), ids)
    return {"out": str(resolve(model) / shortlist.FILE), "word_pieces": len(ids)}


def fluency_model(
    data_dir: str | None, out: Path, min_count: int = 2, dev_turns: int = 3000
) -> dict[str, Any]:
    """The fluency model (trigram Kneser-Ney on SGD train system turns, delexicalised), saved to ``out``
    and validated: real SGD dev system turns against the same turns with their words shuffled (AUC of
    the negated perplexity)."""
    start = time.perf_counter()
    train = delexicalised_turns([p for p in nlg_pairs(load_dialogues(data_dir, "train")) if p.utterance])
    NgramLM().fit(train, min_count=min_count).save(out)
    lm = NgramLM.load(out)
    built = time.perf_counter() - start
    rng = random.Random(0)
    dev = delexicalised_turns([p for p in nlg_pairs(load_dialogues(data_dir, "dev")) if p.utterance])
    dev = [t for t in rng.sample(dev, min(dev_turns, len(dev))) if len(t.split()) >= 3]
    scrambled = []
    for text in dev:
        words = text.split()
        if len(set(words)) < 2:  # no order of them differs from the turn's own
            continue
        shuffled = list(words)
        while shuffled == words:
            rng.shuffle(shuffled)
        scrambled.append(" ".join(shuffled))
    real = [lm.perplexity(t) for t in dev]
    fake = [lm.perplexity(t) for t in scrambled]
    auc = roc_auc_score([1] * len(real) + [0] * len(fake), [-p for p in real + fake])
    return {
        "out": str(out),
        "train_turns": len(train),
        "dev_turns": len(dev),
        "auc_real_vs_scrambled": auc,
        "perplexity_real_median": statistics.median(real),
        "perplexity_scrambled_median": statistics.median(fake),
        "model_mb": round(out.stat().st_size / 2**20, 2),
        "minutes": round(built / 60, 2),
    }


def nlu_ensemble(
    members: Sequence[Path], out: Path, data: str, data_dir: str | None, intent_slots: bool = False
) -> dict[str, Any]:
    """Joint NLU models with the same labels, trained from different seeds, made one ensemble (the mean
    of their logits and CRFs): copied into ``out`` (``seed0/``, ...) under a meta.json with the shared
    config (and the intent → slots table with ``intent_slots``). Returns the dev scores of each
    member and of the ensemble, so that the choice is made on dev."""
    if len(members) < 2:
        raise TodError("an ensemble needs two or more members (--member)")
    with tempfile.TemporaryDirectory() as tmp:  # the members may live inside ``out``
        staged = []
        for i, member in enumerate(members):
            copy = Path(tmp) / f"seed{i}"
            copy.mkdir()
            for name in ("meta.json", "weights.safetensors", "history.json"):
                if (member / name).is_file():
                    shutil.copy2(member / name, copy / name)
                elif name != "history.json":
                    raise TodError(f"{member}: no {name}: not a saved NLU model")
            staged.append(copy)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for copy in staged:
            shutil.copytree(copy, out / copy.name)
    names = [f"seed{i}" for i in range(len(members))]
    first = json.loads((out / names[0] / "meta.json").read_text())
    config = dict(first["config"])
    if intent_slots:
        config["intent_slots"] = intent_slot_table(
            list(benchmark_targets(load_benchmark(data, data_dir, "train")))
        )
    meta: dict[str, Any] = {
        "format_version": first["format_version"],
        "kind": first["kind"],
        "config": config,
        "members": names,
        "date": datetime.now(UTC).date().isoformat(),
        "made_from": [str(m) for m in members],
        "metrics": {},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    dev = list(benchmark_targets(load_benchmark(data, data_dir, "dev")))
    scores = {name: score_targets(BertNLU.load(out / name), dev) for name in names}
    scores["ensemble"] = score_targets(BertNLU.load(out), dev)
    meta["metrics"][f"{data}_dev"] = scores["ensemble"]
    (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return {"out": str(out), "dev": scores}


def nlg_inference(model: str, int8: bool, shortlist: bool) -> dict[str, Any]:
    """Record in the Transformer NLG's meta.json how it loads for use (``inference``: int8 linears, the
    output-layer shortlist; measured by bench/nlg_speed.py), after loading it so to check it can."""
    if kind(model) != KIND:
        raise TodError(f"{model}: not a Transformer NLG ({KIND})")
    Seq2SeqNLG.load(model, int8=int8, shortlist=shortlist)  # a missing shortlist fails here
    chosen = {"int8": int8, "shortlist": shortlist}
    update_meta(resolve(model), {"inference": chosen})
    return {"model": str(resolve(model)), "inference": chosen}


def nlu_intent_slots(model: str, data: str, data_dir: str | None) -> dict[str, Any]:
    """Store in a benchmark NLU's config the slots each intent had in the training split
    (``JointConfig.intent_slots``): from then on a word's tag is one of its intent's slots. Scores dev
    before and after (bench/nlu_intent_slots.py measures dev and test; decide on dev)."""
    table = intent_slot_table(list(benchmark_targets(load_benchmark(data, data_dir, "train"))))
    dev = list(benchmark_targets(load_benchmark(data, data_dir, "dev")))
    nlu = BertNLU.load(model)
    before = score_targets(nlu, dev)
    meta_file = resolve(model) / "meta.json"
    meta = json.loads(meta_file.read_text())
    meta["config"]["intent_slots"] = table
    meta_file.write_text(json.dumps(meta, indent=1) + "\n")
    after = score_targets(BertNLU.load(model), dev)
    return {"model": str(resolve(model)), "intents": len(table), "dev_before": before, "dev_after": after}
