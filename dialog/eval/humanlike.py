"""Can a classifier tell real turns from generated ones?

``discriminator_auc``: the AUC of a real-vs-generated
discriminator, cross-validated (0.5: it cannot; 1.0: it always can). Lower is better for a
generator meant to sound like people (the learned user), and the figure is honest because the
classifier is fitted afresh on the very texts compared: character n-grams (TF-IDF) and a logistic
regression, scikit-learn's, five folds.

``HumanLikeness``: a discriminator trained once on SGD (real system turns against generated replies
to the same acts) that scores an agent's replies: the share it takes for a person's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dialog.errors import TodError


def discriminator_auc(real: Sequence[str], generated: Sequence[str], folds: int = 5, seed: int = 0) -> float:
    """The cross-validated ROC AUC of telling ``real`` from ``generated`` texts."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline

    texts = [*real, *generated]
    labels = np.array([1] * len(real) + [0] * len(generated))
    if min(len(real), len(generated)) < folds:
        raise ValueError(f"need at least {folds} texts of each kind")
    model = make_pipeline(
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), min_df=2, sublinear_tf=True),
        LogisticRegression(max_iter=1000, C=1.0),
    )
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(model, texts, labels, cv=split, method="predict_proba")[:, 1]
    return float(roc_auc_score(labels, scores))


# --- the human-likeness scorer ----------------------------------------------------------------

FORMAT_VERSION = 1
MODEL = "humanlike-ngram"
FEATURES = 2**18


def _vectorizer() -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer

    # Hashed character n-grams: no vocabulary to store, the same features on any machine.
    return HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), n_features=FEATURES, alternate_sign=False, norm="l2"
    )


class HumanLikeness:
    """How likely a system reply was written by a person (an SGD wizard) rather than generated: a
    logistic regression over hashed character n-grams, trained on SGD train system turns against the
    template and Transformer NLG's replies to the same acts. ``human(texts)``: the share it takes for
    human (probability at least one half)."""

    def __init__(self, coef: np.ndarray, intercept: float, meta: dict[str, Any] | None = None) -> None:
        self.coef = coef.astype(np.float32)
        self.intercept = float(intercept)
        self.meta = meta or {}
        self.vectorizer = _vectorizer()

    def probability(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0)
        x = self.vectorizer.transform(list(texts))
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def human(self, texts: Sequence[str]) -> float | None:
        """The share of ``texts`` taken for human; None without texts."""
        return float(np.mean(self.probability(texts) >= 0.5)) if texts else None

    @classmethod
    def fit(cls, real: Sequence[str], generated: Sequence[str], c: float = 4.0) -> HumanLikeness:
        from sklearn.linear_model import LogisticRegression

        x = _vectorizer().transform([*real, *generated])
        y = np.array([1] * len(real) + [0] * len(generated))
        model = LogisticRegression(max_iter=2000, C=c).fit(x, y)
        return cls(model.coef_[0], float(model.intercept_[0]))

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            directory / "weights.npz", coef=self.coef.astype(np.float16), intercept=self.intercept
        )
        meta = {"kind": MODEL, "format_version": FORMAT_VERSION, "features": FEATURES, **self.meta}
        (directory / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, name_or_dir: str | Path = MODEL) -> HumanLikeness:
        from dialog.infra.artifacts import resolve

        directory = resolve(str(name_or_dir))
        try:
            meta = json.loads((directory / "meta.json").read_text())
            weights = np.load(directory / "weights.npz")
            coef, intercept = weights["coef"], float(weights["intercept"])
        except (OSError, ValueError, KeyError) as exc:
            raise TodError(f"{directory}: cannot read the human-likeness model: {exc}") from None
        if meta.get("kind") != MODEL or coef.shape != (FEATURES,):
            raise TodError(f"{directory}: not a {MODEL} model (run `tod train humanlike`)")
        return cls(coef, intercept, meta)


def generated_replies(
    pairs: Sequence[Any],
    schemas: Sequence[Any],
    nlg: Any,
    batch: int = 32,
    progress: Callable[[int], None] | None = None,
) -> tuple[list[str], list[str]]:
    """The template NLG's and the Transformer NLG's (greedy) replies to each pair's acts."""
    from dialog.nlg.template import TemplateNLG
    from dialog.types import DialogueState

    template = TemplateNLG(schemas)
    state = DialogueState()
    templated = [template.generate(p.acts, state) for p in pairs]
    learned: list[str] = []
    for start in range(0, len(pairs), batch):
        chunk = pairs[start : start + batch]
        learned += [g.text for g in nlg.realise([(p.acts, None) for p in chunk])]
        if progress is not None:
            progress(len(chunk))
    return templated, learned


def train_humanlike(
    data_dir: str | None,
    out: Path,
    n_train: int = 3000,
    n_dev: int = 500,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Fit on SGD train system turns (real) against the NLGs' replies to the same acts; validate on
    held-apart SGD dev turns and their generated replies (other dialogues, other services too)."""
    import random

    from dialog.data.sgd import load_dialogues, read_sgd_schemas
    from dialog.data.views import nlg_pairs
    from dialog.nlg.seq2seq import Seq2SeqNLG

    rng = random.Random(seed)
    schemas = read_sgd_schemas(data_dir, "train") + read_sgd_schemas(data_dir, "dev")
    nlg = Seq2SeqNLG.load("nlg-seq2seq").with_schemas(schemas)
    splits = {}
    done = [0]

    def advance(k: int) -> None:  # the Transformer's replies are most of the time
        done[0] += k
        if progress is not None:
            progress(done[0], n_train + n_dev)

    for split, n in (("train", n_train), ("dev", n_dev)):
        pairs = [p for p in nlg_pairs(load_dialogues(data_dir, split)) if p.acts and p.utterance.strip()]
        pairs = rng.sample(pairs, min(n, len(pairs)))
        templated, learned = generated_replies(pairs, schemas, nlg, progress=advance)
        splits[split] = ([p.utterance for p in pairs], templated, learned)
    real, templated, learned = splits["train"]
    half = len(real) // 2  # each generator writes for half the acts: as many generated as real
    model = HumanLikeness.fit(real, templated[:half] + learned[half:])
    real, templated, learned = splits["dev"]
    validation = {
        "real_taken_for_human": model.human(real),
        "template_taken_for_human": model.human(templated),
        "seq2seq_taken_for_human": model.human(learned),
        "auc": _auc(model, real, templated[: len(real) // 2] + learned[len(real) // 2 :]),
        "n_dev": len(real),
    }
    model.meta = {
        "trained_on": f"SGD train, {len(splits['train'][0])} system turns",
        "validation": validation,
    }
    model.save(out)
    return validation


def _auc(model: HumanLikeness, real: Sequence[str], generated: Sequence[str]) -> float:
    from sklearn.metrics import roc_auc_score

    scores = model.probability([*real, *generated])
    return float(roc_auc_score([1] * len(real) + [0] * len(generated), scores))
