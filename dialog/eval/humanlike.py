"""Can a classifier tell real turns from generated ones? The AUC of a real-vs-generated
discriminator, cross-validated (0.5: it cannot; 1.0: it always can). Lower is better for a
generator meant to sound like people (the learned user), and the figure is honest because the
classifier is fitted afresh on the very texts compared: character n-grams (TF-IDF) and a logistic
regression, scikit-learn's, five folds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
