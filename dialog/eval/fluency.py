"""Fluency: a word trigram language model of system replies (interpolated Kneser-Ney), trained on SGD
train system turns; a reply's fluency is its perplexity under the model (lower is more fluent).

Values are replaced by their slot placeholder before counting and scoring (``[city]``), so that the
model scores how a reply is said, not which restaurant it names. The model is a few MB of counts,
saved as gzipped JSON (``data/models/fluency-ngram``).
"""

from __future__ import annotations

import gzip
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path

from dialog.errors import TodError

BOS, EOS = "<s>", "</s>"
DISCOUNT = 0.75
TOKEN = re.compile(r"\[[a-z0-9_]+\]|[a-z0-9]+(?:'[a-z]+)?|[^\sa-z0-9]")
FORMAT_VERSION = 1


def tokens(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class NgramLM:
    """Interpolated Kneser-Ney trigram model over lower-cased word tokens."""

    def __init__(self) -> None:
        self.trigrams: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.bigrams: dict[str, Counter[str]] = defaultdict(Counter)  # continuation counts
        self.continuation: Counter[str] = Counter()  # distinct left contexts of each word
        self.vocabulary: set[str] = set()

    def fit(self, texts: Iterable[str], min_count: int = 1) -> NgramLM:
        raw: Counter[tuple[str, str, str]] = Counter()
        for text in texts:
            words = [BOS, BOS, *tokens(text), EOS]
            for i in range(2, len(words)):
                raw[(words[i - 2], words[i - 1], words[i])] += 1
        for (a, b, c), n in raw.items():
            if n >= min_count:
                self.trigrams[(a, b)][c] += n
        seen_bigrams = {(b, c) for (_, b, c) in raw}
        left_of_bigram: Counter[tuple[str, str]] = Counter((b, c) for (_a, b, c) in raw)
        for (b, c), n in left_of_bigram.items():
            self.bigrams[b][c] = n
        self.continuation = Counter(c for (_b, c) in seen_bigrams)
        return self._prepare()

    def _prepare(self) -> NgramLM:
        self.vocabulary = set(self.continuation) | {BOS}
        self.unigram_total = sum(self.continuation.values()) + len(self.vocabulary) + 1
        self.bigram_totals = {b: sum(c.values()) for b, c in self.bigrams.items()}
        self.trigram_totals = {k: sum(c.values()) for k, c in self.trigrams.items()}
        return self

    def _unigram(self, word: str) -> float:
        return (self.continuation.get(word, 0) + 1) / self.unigram_total  # add-one over continuations

    def _bigram(self, b: str, c: str) -> float:
        counts = self.bigrams.get(b)
        if not counts:
            return self._unigram(c)
        total = self.bigram_totals[b]
        lam = DISCOUNT * len(counts) / total
        return max(counts.get(c, 0) - DISCOUNT, 0) / total + lam * self._unigram(c)

    def prob(self, a: str, b: str, c: str) -> float:
        counts = self.trigrams.get((a, b))
        if not counts:
            return self._bigram(b, c)
        total = self.trigram_totals[(a, b)]
        lam = DISCOUNT * len(counts) / total
        return max(counts.get(c, 0) - DISCOUNT, 0) / total + lam * self._bigram(b, c)

    def log_prob(self, text: str) -> tuple[float, int]:
        """Natural-log probability of the text's tokens (and the end), and how many were scored."""
        words = [BOS, BOS, *tokens(text), EOS]
        total = sum(math.log(self.prob(words[i - 2], words[i - 1], words[i])) for i in range(2, len(words)))
        return total, len(words) - 2

    def perplexity(self, text: str) -> float:
        total, n = self.log_prob(text)
        return math.exp(-total / n)

    # --- saving -------------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "format_version": FORMAT_VERSION,
            "trigrams": {f"{a} {b}": dict(c) for (a, b), c in self.trigrams.items()},
            "bigrams": {b: dict(c) for b, c in self.bigrams.items()},
        }
        with gzip.open(path, "wt", encoding="utf-8") as f:
            json.dump(data, f, separators=(",", ":"))

    @classmethod
    def load(cls, path: Path) -> NgramLM:
        if not path.is_file():
            raise TodError(f"{path}: the fluency model is missing (`tod export fluency` builds it)")
        try:
            with gzip.open(path, "rt", encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise TodError(f"{path}: cannot read the fluency model: {exc}") from None
        if data.get("format_version") != FORMAT_VERSION:
            raise TodError(f"{path}: fluency model of another format")
        lm = cls()
        for key, counts in data["trigrams"].items():
            a, _, b = key.partition(" ")
            lm.trigrams[(a, b)] = Counter(counts)
        for b, counts in data["bigrams"].items():
            lm.bigrams[b] = Counter(counts)
        lm.continuation = Counter(c for counts in lm.bigrams.values() for c in counts)
        return lm._prepare()


def delexicalised_turns(pairs: Sequence[object]) -> list[str]:
    """System replies with the values of their acts replaced by placeholders."""
    from dialog.common.delex import delexicalise, delexicalise_text

    out = []
    for pair in pairs:
        _, values = delexicalise(pair.acts)  # type: ignore[attr-defined]
        text = delexicalise_text(pair.utterance, values)  # type: ignore[attr-defined]
        out.append(text if text is not None else pair.utterance)  # type: ignore[attr-defined]
    return out
