"""The one decoding loop of the generators (the Transformer NLG, SimpleTOD; docs/design.md, "Generation").

A generator hands over a ``Stepper`` (its network's key/value cache: feed tokens, get the next token's
scores; keep some rows) and the rules its output must follow; ``decode`` does greedy decoding,
sampling (top-k, top-p, temperature) or beam search over it, the same way for both.

Rules are hooks on the scores (``Rule``): the decoding settings' repetition penalty and word bias
(``settings_rules``), the NLG's slot constraint and no-stutter rule (``dialog.generation.rules``) and
SimpleTOD's schema machines (``dialog.e2e.constrain``). A rule with a state (a machine) follows the rows
through ``advance``; one that knows which few tokens may come next says so (``allowed``), and the
stepper then scores only those, and a token that is the only one allowed is written without a step of
its own (one row only: a run of forced tokens is fed at once).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from dialog.generation import filter_logits, pick, seeded
from dialog.types import GenerationSettings


class Stepper(Protocol):
    """A network's decoding state: its key/value cache of the rows being written."""

    def feed(self, tokens: torch.Tensor, only: AbstractSet[int] | None = None) -> torch.Tensor:
        """The scores (rows, vocabulary) of the token after ``tokens`` (rows, n), which join the cache;
        with ``only``, the other tokens' scores may be left at -inf."""
        ...

    def reorder_cache(self, order: torch.Tensor) -> None:
        """Keep the rows ``order`` (a beam search's survivors, possibly repeated)."""
        ...


class Rule:
    """A hook on the scores of each step. ``written`` holds, per row, the token before the first
    written one (the prompt's last: ``[CLS]`` for the NLG) and what was written since."""

    def __call__(self, written: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores

    def allowed(self) -> AbstractSet[int] | None:
        """The tokens some row may write next (None: any)."""
        return None

    def advance(self, rows: Sequence[int], tokens: Sequence[int]) -> None:
        """The rows now written are the old ``rows`` (beam search reorders them) each followed by the
        token in ``tokens``."""


class RepetitionPenalty(Rule):
    """The tokens a row has written become less likely (CTRL's penalty: positive scores divided,
    negative ones multiplied)."""

    def __init__(self, penalty: float) -> None:
        self.penalty = penalty

    def __call__(self, written: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if written.shape[1] < 2:
            return scores
        said = written[:, 1:]
        picked = scores.gather(1, said)
        penalised = torch.where(picked > 0, picked / self.penalty, picked * self.penalty)
        return scores.scatter(1, said, penalised)


class WordBias(Rule):
    """A bias added to the score of each biased word's first word piece."""

    def __init__(self, tokenizer: Any, bias: Sequence[tuple[str, float]]) -> None:
        self.pieces: list[tuple[int, float]] = []
        for word, value in bias:
            ids = tokenizer(word, add_special_tokens=False)["input_ids"]
            if ids:
                self.pieces.append((ids[0], float(value)))

    def __call__(self, written: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        scores = scores.clone()
        for token, value in self.pieces:
            scores[:, token] += value
        return scores


def settings_rules(tokenizer: Any, settings: GenerationSettings) -> list[Rule]:
    """The rules the decoding settings ask for (repetition penalty, word bias)."""
    rules: list[Rule] = []
    if settings.repetition_penalty != 1.0:
        rules.append(RepetitionPenalty(settings.repetition_penalty))
    if settings.logit_bias:
        rules.append(WordBias(tokenizer, settings.logit_bias))
    return rules


@dataclass
class Hypothesis:
    """Tokens written (the stop token last, when one was reached) and their score: the summed
    log-probability, divided by the length in beam search."""

    tokens: list[int]
    score: float


def decode(
    stepper: Stepper,
    prompt: torch.Tensor,
    settings: GenerationSettings,
    stops: Collection[int],
    max_new: int,
    rules: Sequence[Rule] = (),
    n: int = 1,
    pad: int = 0,
) -> list[list[Hypothesis]]:
    """``n`` hypotheses for each row of ``prompt`` (rows, tokens: what is fed first, on top of the
    stepper's cache). Greedy or sampled (``settings.do_sample``) with ``n == 1``: the rows are written
    together, and the stepper's cache ends holding all of a row's tokens but the last. Beam search
    (``settings.num_beams > 1``, or ``n > 1`` without sampling): one prompt row, ``max(num_beams, n)``
    beams, the ``n`` best of them. Sampling ``n > 1`` times writes the rows again ``n`` times."""
    stops = set(stops)
    beams = max(settings.num_beams, n)
    if beams > 1 and not settings.do_sample:
        if prompt.shape[0] != 1:
            raise ValueError("beam search writes one prompt at a time")
        return [_beam(stepper, prompt, settings, stops, max_new, rules, beams, n)]
    if n > 1:
        prompt = prompt.repeat_interleave(n, 0)
        stepper.reorder_cache(torch.arange(prompt.shape[0] // n).repeat_interleave(n))
    found = _sample(stepper, prompt, settings, stops, max_new, rules, pad)
    return [found[i * n : (i + 1) * n] for i in range(len(found) // n)]


def _scores(logits: torch.Tensor, written: torch.Tensor, rules: Sequence[Rule]) -> torch.Tensor:
    scores = logits.float()
    for rule in rules:
        scores = rule(written, scores)
    return scores


def _allowed(rules: Sequence[Rule]) -> AbstractSet[int] | None:
    """What every rule allows next (None: any token). One rule's set is passed on as it is: a stepper
    may keep what it gathered for a set while the same set comes back."""
    sets = [allowed for rule in rules if (allowed := rule.allowed()) is not None]
    if len(sets) < 2:
        return sets[0] if sets else None
    return frozenset.intersection(*map(frozenset, sets))


def _advance(rules: Sequence[Rule], rows: Sequence[int], tokens: Sequence[int]) -> None:
    for rule in rules:
        rule.advance(rows, tokens)


def _sample(
    stepper: Stepper,
    prompt: torch.Tensor,
    settings: GenerationSettings,
    stops: set[int],
    max_new: int,
    rules: Sequence[Rule],
    pad: int,
) -> list[Hypothesis]:
    """Greedy or sampled decoding of every row at once; a row that wrote a stop token is fed ``pad``
    until all have."""
    generator = seeded(settings)
    rows = prompt.shape[0]
    stop_ids = torch.tensor(sorted(stops), dtype=torch.long)
    written = prompt[:, -1:].clone()
    done = torch.zeros(rows, dtype=torch.bool)
    totals = torch.zeros(rows)
    logits = stepper.feed(prompt, _allowed(rules))
    while written.shape[1] - 1 < max_new:
        scores = _scores(logits, written, rules)
        token = torch.where(done, pad, pick(scores, settings, generator))
        logp = torch.log_softmax(filter_logits(scores, settings), -1).gather(1, token[:, None])[:, 0]
        totals += torch.where(done, 0.0, logp)
        written = torch.cat([written, token[:, None]], 1)
        _advance(rules, range(rows), token.tolist())
        done |= torch.isin(token, stop_ids)
        if bool(done.all()):
            break
        feed = token[:, None]
        only = _allowed(rules)
        # Tokens a rule forces (the rest of a name, "=" after a slot) need no scores: fed together.
        while rows == 1 and only is not None and len(only) == 1 and written.shape[1] - 1 < max_new:
            (forced,) = only
            if forced in stops:
                break
            step = torch.tensor([[forced]])
            written = torch.cat([written, step], 1)
            feed = torch.cat([feed, step], 1)
            _advance(rules, [0], [forced])
            only = _allowed(rules)
        if written.shape[1] - 1 >= max_new:  # out of room: the cache keeps all but the last token
            if feed.shape[1] > 1:
                stepper.feed(feed[:, :-1], frozenset())
            break
        logits = stepper.feed(feed, only)
    out = []
    for row, total in zip(written[:, 1:].tolist(), totals.tolist(), strict=True):
        end = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
        out.append(Hypothesis(row[:end], total))
    return out


def _beam(
    stepper: Stepper,
    prompt: torch.Tensor,
    settings: GenerationSettings,
    stops: set[int],
    max_new: int,
    rules: Sequence[Rule],
    k: int,
    n: int,
) -> list[Hypothesis]:
    """Beam search over the cache (its rows reordered each step): the ``n`` best of ``k`` beams, each
    scored by its log-probability divided by its length (the stop token counted)."""
    written = prompt[:, -1:].clone()
    totals = torch.zeros(1)
    finished: list[tuple[float, list[int]]] = []
    logits = stepper.feed(prompt, _allowed(rules))
    for length in range(1, max_new + 1):
        scores = filter_logits(_scores(logits, written, rules), settings)
        logp = totals[:, None] + torch.log_softmax(scores, -1)  # (rows, vocabulary)
        best, flat = logp.flatten().topk(min(2 * k, logp.numel()))
        keep_rows: list[int] = []
        keep_tokens: list[int] = []
        keep_totals: list[float] = []
        for value, index in zip(best.tolist(), flat.tolist(), strict=True):
            if value == float("-inf"):
                break
            row, token = divmod(index, logp.shape[1])
            if token in stops:
                finished.append((value / length, [*written[row, 1:].tolist(), token]))
            elif len(keep_rows) < k:
                keep_rows.append(row)
                keep_tokens.append(token)
                keep_totals.append(value)
            if len(keep_rows) == k and len(finished) >= n:
                break
        if not keep_rows or (
            len(finished) >= k and max(keep_totals) / length < sorted(f for f, _ in finished)[-n]
        ):
            break
        order = torch.tensor(keep_rows, dtype=torch.long)
        stepper.reorder_cache(order)
        _advance(rules, keep_rows, keep_tokens)
        step = torch.tensor(keep_tokens)[:, None]
        written = torch.cat([written[order], step], 1)
        totals = torch.tensor(keep_totals)
        if length < max_new:
            logits = stepper.feed(step, _allowed(rules))
    if len(finished) < n:  # out of length: the live beams count as they are
        width = written.shape[1] - 1
        finished += [(t / width, w[1:]) for t, w in zip(totals.tolist(), written.tolist(), strict=True)]
    finished.sort(key=lambda item: -item[0])
    return [Hypothesis(tokens, score) for score, tokens in finished[:n]]
