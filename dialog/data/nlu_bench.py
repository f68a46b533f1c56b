"""The SNIPS and ATIS benchmarks in their line format: ``seq.in``, ``seq.out`` (BIO) and ``label``."""

from __future__ import annotations

from pathlib import Path

from dialog.data.sgd import resolve_data_dir
from dialog.data.views import NLUExample
from dialog.errors import DataError

BENCHMARKS = ("snips", "atis")


def benchmark_dir(name: str, data_dir: str | Path | None, split: str) -> Path:
    if name not in BENCHMARKS:
        raise DataError(f"unknown NLU benchmark {name!r} (known: {', '.join(BENCHMARKS)})")
    path = resolve_data_dir(data_dir) / "nlu" / name / split
    if not path.is_dir():
        raise DataError(f"{name} split '{split}' not found: {path}")
    return path


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror}") from None


def load_benchmark(name: str, data_dir: str | Path | None, split: str) -> list[NLUExample]:
    """Every utterance of a split; a length mismatch is an error naming the file and line."""
    directory = benchmark_dir(name, data_dir, split)
    words, tags, labels = (_lines(directory / f) for f in ("seq.in", "seq.out", "label"))
    if not len(words) == len(tags) == len(labels):
        raise DataError(
            f"{directory}: seq.in, seq.out and label have {len(words)}, {len(tags)}, {len(labels)} lines"
        )
    out = []
    for i, (w, t, label) in enumerate(zip(words, tags, labels, strict=True), start=1):
        tokens, bio = w.split(), t.split()
        if len(tokens) != len(bio):
            raise DataError(f"{directory}/seq.out:{i}: {len(bio)} tags for {len(tokens)} words")
        out.append(
            NLUExample(
                text=" ".join(tokens),
                tokens=tuple(tokens),
                tags=tuple(bio),
                intent=label.strip(),
                service=name,
                dialogue_id=f"{name}-{split}",
                turn_index=i - 1,
            )
        )
    return out
