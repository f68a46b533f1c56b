"""`tod train user` and `tod eval user`: the learned user's generator on SGD user turns, and its
validation against real user turns (BLEU, distinct-n, the values it must say, and how well a
classifier tells its turns from real ones)."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from dialog.eval.humanlike import discriminator_auc
from dialog.eval.metrics import distinct_n
from dialog.nlg.train import NLGTrainSpec, fit, sgd_schemas, start
from dialog.train.spec import read_spec
from dialog.types import GenerationSettings
from dialog.user.learned import LearnedUserText, UserPair, training_pairs, user_pairs
from dialog.user.text import UserText


class UserTrainSpec(NLGTrainSpec):
    train_pairs: int = Field(default=20000, description="SGD train user turns sampled (0: all).")
    dev_pairs: int = 400
    resume: str | None = Field(default="nlg-seq2seq", description="Warm start (the committed NLG).")


def load_spec(path: Path | None) -> UserTrainSpec:
    return read_spec(path, UserTrainSpec)


def score_user(
    user: LearnedUserText | UserText,
    pairs: Sequence[UserPair],
    seed: int = 0,
    batch: int = 32,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The generated turns of ``pairs`` against the real ones. ``value_error_rate``: the share the
    model could not say with each value once (the templates said those)."""
    import sacrebleu

    rng = random.Random(seed)
    generated: list[str] = []
    if isinstance(user, LearnedUserText):
        before = (user.said, user.fallbacks)
        for start_at in range(0, len(pairs), batch):
            chunk = pairs[start_at : start_at + batch]
            generated += user.utterances([(p.acts, p.system) for p in chunk], rng)
            if progress is not None:
                progress(len(generated), len(pairs))
        said, fell = user.said - before[0], user.fallbacks - before[1]
        value_errors = fell / said if said else 0.0
    else:
        generated = [user.realise(p.acts, rng) for p in pairs]
        value_errors = 0.0  # templates write every value
    real = [p.utterance for p in pairs]
    return {
        "n": len(pairs),
        "bleu": sacrebleu.corpus_bleu(generated, [real]).score,
        "distinct_1": distinct_n(generated, 1),
        "distinct_2": distinct_n(generated, 2),
        "real_distinct_1": distinct_n(real, 1),
        "real_distinct_2": distinct_n(real, 2),
        "value_error_rate": value_errors,
        "discriminator_auc": discriminator_auc(real, generated),
        "samples": [
            {"system": p.system, "real": p.utterance, "generated": g}
            for p, g in list(zip(pairs, generated, strict=True))[:12]
        ],
    }


def dev_pairs(data_dir: str | None, split: str, n: int, seed: int) -> list[UserPair]:
    from dialog.data.sgd import load_dialogues

    pairs = [p for p in user_pairs(load_dialogues(data_dir, split)) if p.acts and p.utterance.strip()]
    return random.Random(seed).sample(pairs, min(n, len(pairs)))


def train_user(spec: UserTrainSpec, out: Path, data_dir: str | None, progress: bool = True) -> dict[str, Any]:
    from dialog.data.sgd import load_dialogues

    schemas = sgd_schemas(data_dir, "train") + sgd_schemas(data_dir, "dev")
    by_name = {s.service: s for s in schemas}
    rng = random.Random(spec.seed)
    pairs = list(user_pairs(load_dialogues(data_dir, "train")))
    if spec.train_pairs and len(pairs) > spec.train_pairs:
        pairs = rng.sample(pairs, spec.train_pairs)
    examples, skipped = training_pairs(pairs, by_name)
    dev = dev_pairs(data_dir, "dev", spec.dev_pairs, spec.seed)
    generator = start(spec)
    user = LearnedUserText(schemas, generator, GenerationSettings())  # greedy while training

    def evaluate() -> dict[str, float]:
        scores = score_user(user, dev, spec.seed)
        kept = {k: scores[k] for k in ("bleu", "value_error_rate", "distinct_2")}
        return kept | {"score": scores["bleu"] - 100 * scores["value_error_rate"]}

    generator.meta["spec"] = spec.model_dump()
    generator.meta["role"] = "user"
    history = fit(generator, examples, evaluate, spec, out, progress, {"skipped_pairs": skipped})
    return {"history": history, "examples": len(examples), "skipped": skipped}
