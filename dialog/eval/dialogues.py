"""``tod eval dialogues``: N simulated dialogues per schema, scored, with a report."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dialog.backend import Backend
from dialog.common.paths import models_dir
from dialog.conversation.agent import PipelineAgent, create_agent
from dialog.conversation.simulation import Level, Transcript, run_dialogue
from dialog.errors import TodError
from dialog.eval.faithful import ValueCheck
from dialog.eval.humanlike import MODEL as HUMANLIKE
from dialog.eval.humanlike import HumanLikeness
from dialog.eval.metrics import DialogueScore, aggregate, per_schema, score_dialogue
from dialog.schema import Schema
from dialog.user.agenda import AgendaUser
from dialog.user.errors import ErrorModel
from dialog.user.goals import episodes
from dialog.user.learned import LearnedUserText
from dialog.user.scripted import ScriptedGoal
from dialog.user.text import UserText


@dataclass(frozen=True)
class EvalConfig:
    agent: str = "form"
    n: int = 100  # dialogues per schema
    seed: int = 0
    level: Level = "acts"
    nlu_error: float = 0.0
    max_turns: int = 20
    stages: Mapping[str, str | None] | None = None  # overrides: {"nlu": "bert", ...}
    user_text: str = "templates"  # "sgd": real SGD dev user turns as templates; "model": the learned user
    data_dir: str | None = None
    coherence: str | None = "auto"  # a coherence scorer for text-level runs ("auto": the committed one)


@dataclass
class EvalResult:
    metrics: dict[str, Any]
    transcripts: list[Transcript]  # the first few of each schema
    scores: list[DialogueScore]  # every dialogue, in order
    kept_scores: list[DialogueScore]  # the scores of ``transcripts``

    def samples(self, k: int = 3) -> list[Transcript]:
        """Failures first (the interesting ones), then successes."""
        return [t for t, _ in self.sample_pairs(k)]

    def sample_pairs(self, k: int = 3) -> list[tuple[Transcript, DialogueScore]]:
        pairs = list(zip(self.transcripts, self.kept_scores, strict=True))
        return ([p for p in pairs if not p[1].success] + [p for p in pairs if p[1].success])[:k]


def evaluate(
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend],
    config: EvalConfig,
    progress: Callable[[int, int], None] | None = None,
    keep_transcripts: int = 5,
    agent: PipelineAgent | None = None,
    goals: Sequence[ScriptedGoal] | None = None,
) -> EvalResult:
    """Run ``config.n`` dialogues for every schema that admits a goal; reproducible from the seed.
    With ``goals`` (a scripted user's fixed goals), play each of them once instead of sampling.

    Each dialogue runs in a backend sandbox, so bookings made by one do not change the next.
    """
    if agent is None:  # else a ready agent (e.g. with one seed's policy), named by ``config.agent``
        agent = create_agent(config.agent, schemas, backends, **dict(config.stages or {}))
    user = AgendaUser(schemas, backends)
    errors = ErrorModel(config.nlu_error, schemas, backends, config.seed) if config.nlu_error > 0 else None
    text = user_text(schemas, config) if config.level == "text" else None
    values = ValueCheck(schemas, backends) if config.level == "text" else None
    scores: list[DialogueScore] = []
    kept: list[Transcript] = []
    kept_at: list[int] = []
    for i, scripted in enumerate(goals or ()):
        rng = random.Random(f"{config.seed}:{scripted.seed}")
        mine = [backends[s] for s in scripted.goal.services]
        transcript = run_dialogue(
            agent, user, scripted.goal, rng, config.level, errors, text, config.max_turns, mine
        )
        scores.append(score_dialogue(transcript, values))
        if i < keep_transcripts:
            kept.append(transcript)
            kept_at.append(len(scores) - 1)
        if progress is not None:
            progress(i + 1, len(goals or ()))
    total = config.n * len(schemas)
    for k, (i, schema, goal, rng) in enumerate(
        episodes(schemas, backends, config.n if goals is None else 0, config.seed)
    ):
        sandboxed = [backends[schema.service]]
        transcript = run_dialogue(
            agent, user, goal, rng, config.level, errors, text, config.max_turns, sandboxed
        )
        scores.append(score_dialogue(transcript, values))
        if i < keep_transcripts:
            kept.append(transcript)
            kept_at.append(len(scores) - 1)
        if progress is not None:
            progress(k + 1, total)
    scorer = _coherence_scorer(config)
    if scorer is not None:
        scores = score_coherence(scorer, scores)
    if config.level == "text" and (models_dir() / HUMANLIKE).is_dir():
        judge = HumanLikeness.load(HUMANLIKE)
        scores = [replace(s, human_like=judge.human(s.texts)) if s.texts else s for s in scores]
    fluency = _fluency_model(config)
    if fluency is not None:
        scores = [replace(s, fluency_ppl=_mean_ppl(fluency, s)) if s.texts else s for s in scores]
    metrics: dict[str, Any] = aggregate(scores)
    metrics["per_schema"] = per_schema(scores)
    metrics["wrong_transactions"] = [w for sc in scores for w in sc.wrong_transactions][:20]
    metrics["invented_values"] = [f"{sc.service} turn {v}" for sc in scores for v in sc.invented][:20]
    metrics["config"] = {
        "agent": config.agent,
        "n": config.n,
        "seed": config.seed,
        "level": config.level,
        "nlu_error": config.nlu_error,
        "user_text": config.user_text,
        "goals": [g.name for g in goals] if goals is not None else None,
        "coherence": None
        if scorer is None
        else (config.coherence if config.coherence != "auto" else COHERENCE),
        "schemas": [s.service for s in schemas],
        "stages": dict(agent.names),
    }
    result = EvalResult(metrics, kept, scores, [scores[i] for i in kept_at])
    metrics["samples"] = [sample_record(t, s) for t, s in result.sample_pairs(2)]
    return result


def sample_record(transcript: Transcript, score: DialogueScore) -> dict[str, Any]:
    """A transcript as JSON, with each reply's coherence and the user's satisfaction after it."""
    coherence = iter(score.reply_coherence)
    turns = []
    for turn in transcript.turns:
        turns.append(
            {
                "user": turn.user_text or " ".join(str(a) for a in turn.heard_acts),
                "system": turn.reply.text or " ".join(str(a) for a in turn.reply.acts),
                "coherence": next(coherence, None) if turn.reply.text else None,
                "satisfaction": turn.satisfaction,
            }
        )
    goal = [f"{t.service}.{t.intent} {dict(t.constraints)}" for t in transcript.goal.tasks]
    return {"goal": goal, "success": score.success, "end": transcript.end_reason, "turns": turns}


COHERENCE = "coherence-bert"
FLUENCY = "fluency-ngram/lm.json.gz"


def _fluency_model(config: EvalConfig) -> Any:
    """The committed fluency model for text-level runs (None at act level or when it is missing)."""
    path = models_dir() / FLUENCY
    if config.level != "text" or not path.is_file():
        return None
    from dialog.eval.fluency import NgramLM

    return NgramLM.load(path)


def _mean_ppl(lm: Any, score: DialogueScore) -> float:
    """The median perplexity of a dialogue's replies, their values replaced by slot placeholders."""
    import statistics

    from dialog.common.delex import delexicalise, delexicalise_text

    values = []
    for text, acts in zip(score.texts, score.reply_acts, strict=False):
        _, slots = delexicalise(acts)
        plain = text
        for slot, value in slots.items():
            plain = delexicalise_text(plain, {slot: value}) or plain
        values.append(lm.perplexity(plain))
    return statistics.median(values) if values else float("nan")


def _coherence_scorer(config: EvalConfig) -> Any:
    """The scorer a text-level run uses: the named one, the committed one for "auto" (None when
    there is none yet), or None."""
    if config.level != "text" or not config.coherence or config.coherence == "none":
        return None
    from dialog.eval.coherence import CoherenceScorer

    if config.coherence == "auto":
        if not (models_dir() / COHERENCE).exists():
            return None
        return CoherenceScorer.load(COHERENCE)
    return CoherenceScorer.load(config.coherence)


def score_coherence(scorer: Any, scores: Sequence[DialogueScore]) -> list[DialogueScore]:
    """Each dialogue's mean coherence of its replies with what the user said before them."""
    items = [(context, reply) for s in scores for context, reply in zip(s.contexts, s.texts, strict=False)]
    values = iter(scorer.score(items))
    out = []
    for s in scores:
        mine = [next(values) for _ in zip(s.contexts, s.texts, strict=False)]
        out.append(replace(s, coherence=sum(mine) / len(mine), reply_coherence=tuple(mine)) if mine else s)
    return out


USER_TEXTS = ("templates", "sgd", "model")


def user_text(schemas: Sequence[Schema], config: EvalConfig) -> UserText | LearnedUserText:
    """The simulated user's words: templates, templates mined from SGD dev user turns, or the learned
    user (``dialog.user.learned``)."""
    if config.user_text == "templates":
        return UserText(schemas)
    if config.user_text == "model":
        return LearnedUserText(schemas)
    if config.user_text != "sgd":
        raise TodError(f"unknown user text {config.user_text!r} ({', '.join(USER_TEXTS)})")
    from dialog.data.sgd import load_dialogues
    from dialog.user.corpus import mine_templates

    # The dev split: no model here was trained on these utterances.
    return UserText(schemas, mine_templates(load_dialogues(config.data_dir, "dev")))
