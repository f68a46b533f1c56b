"""Dialogue metrics from transcripts: task success in ConvLab's sense, state accuracy, repetition,
diversity, abandonment and latency. Fractions are in [0, 1]; a metric that does not apply is None."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from dialog.common.values import same_value
from dialog.conversation.simulation import Transcript
from dialog.eval.faithful import ValueCheck, first_service, transactions
from dialog.types import DONTCARE, ActType, BackendResult, DialogueAct, SubGoal

A = ActType


def _norm(value: str) -> str:
    return " ".join(value.split()).casefold()


def _allowed(task: SubGoal) -> dict[str, set[str]]:
    """Each constraint's acceptable values: the first choice or its alternative; after a change of
    mind, only the value the user changed to."""
    allowed = {s: {_norm(v)} for s, v in task.constraints.items()}
    for slot, value in task.alternatives.items():
        allowed.setdefault(slot, set()).add(_norm(value))
    for _turn, values in sorted(task.changes.items()):
        allowed.update({s: {_norm(v)} for s, v in values.items()})
    return allowed


def _matches(values: dict[str, str], allowed: dict[str, set[str]], required: bool) -> bool:
    for slot, ok in allowed.items():
        if _norm(DONTCARE) in ok:
            continue
        if slot not in values:
            if required:
                return False
            continue
        if not any(same_value(v, values[slot]) for v in ok):  # by meaning: "tomorrow" is its date
            return False
    return True


def _same_frame(tracked: dict[str, str], said: dict[str, str]) -> bool:
    return tracked.keys() == said.keys() and all(same_value(said[k], tracked[k]) for k in said)


@dataclass(frozen=True)
class DialogueScore:
    service: str
    success: bool
    complete: bool
    booked: bool | None  # None: the goal books nothing
    inform_tp: int
    inform_fp: int
    inform_fn: int
    turns: int
    slots_correct: int
    slots_total: int
    jga_correct: int
    jga_total: int
    repeated_turns: int
    abandoned: bool
    latencies_ms: tuple[float, ...]
    texts: tuple[str, ...]
    satisfaction: float | None = None  # mean over the turns of the user's satisfaction
    contexts: tuple[str, ...] = ()  # what came before each reply (for coherence)
    coherence: float | None = None  # mean over the replies, when a scorer ran
    reply_coherence: tuple[float, ...] = ()  # each reply's, when a scorer ran
    reply_acts: tuple[tuple[DialogueAct, ...], ...] = ()  # the acts of each reply that has words
    fluency_ppl: float | None = None  # median perplexity of the replies under the fluency model
    wrong_transactions: tuple[str, ...] = ()  # transactional calls with arguments the user did not want
    invented: tuple[str, ...] = ()  # "turn: values" for each reply stating values nothing supports
    checked_replies: int = 0  # replies checked for invented values (0: none were, e.g. at act level)
    wrong_service: bool | None = None  # the first service acted in is not the goal's (None: none)
    engagingness: float | None = None  # the user's willingness to go on, mean over its turns
    human_like: float | None = None  # share of the replies the human-likeness model takes for human


def system_acts(transcript: Transcript) -> list[tuple[DialogueAct, ...]]:
    return [t.reply.acts for t in transcript.turns]


def _task_found(task: SubGoal, transcript: Transcript) -> bool:
    allowed = _allowed(task)
    if task.transactional:
        # Booked with the user's values, and the user was told so (a booking the user never hears of
        # is not a success: it would be made again).
        for i, turn in enumerate(transcript.turns):
            for stage in turn.reply.trace:
                result = stage.output
                if stage.stage != "backend" or not isinstance(result, BackendResult):
                    continue
                booked = result.transactional and result.success and result.call.method == task.intent
                if booked and _matches(dict(result.call.parameters), allowed, required=False):
                    told = any(
                        a.act is A.NOTIFY_SUCCESS and a.service in (None, task.service)
                        for later in transcript.turns[i:]
                        for a in later.reply.acts
                    )
                    if told:
                        return True
        return False
    for acts in system_acts(transcript):
        offer = {
            a.slot: a.values[0] for a in acts if a.act is A.OFFER and a.service == task.service and a.slot
        }
        if offer and _matches(offer, allowed, required=False):
            return True
    return False


def wrong_transactions(transcript: Transcript) -> list[str]:
    """Transactional calls (tried, whether or not the backend carried them out) whose intent is none of
    the goal's or whose arguments differ from what the user asked for (its constraints, alternatives
    and changes of mind)."""
    out = []
    for turn in transcript.turns:
        for service, call in transactions(turn.reply):
            tasks = [t for t in transcript.goal.tasks if t.service == service and t.intent == call.method]
            if not any(_matches(dict(call.parameters), _allowed(t), required=False) for t in tasks):
                out.append(f"{service}.{call.method}({dict(call.parameters)})")
    return out


#: What each user turn says of the user's willingness to go on (``engagement``).
GOES_ON, REPEATS, GIVES_UP = 1.0, 0.5, 0.0


def engagement(transcript: Transcript) -> list[float]:
    """After each system turn, what the simulated user does, read from its own turns and state: goes
    on (something new: 1), says the same again (0.5), or gives up (0: the last turn of a dialogue it
    abandoned). A user who ends the dialogue satisfied goes on to the end."""
    out = []
    turns = transcript.turns
    gave_up = transcript.user is not None and transcript.user.abandoned
    for i, turn in enumerate(turns):
        if i == len(turns) - 1:
            out.append(GIVES_UP if gave_up else GOES_ON)
        elif turn.user_acts and set(turns[i + 1].user_acts) == set(turn.user_acts):
            out.append(REPEATS)
        else:
            out.append(GOES_ON)
    return out


def score_dialogue(transcript: Transcript, values: ValueCheck | None = None) -> DialogueScore:
    """The dialogue's scores; with ``values``, each reply with words is checked for invented values."""
    goal = transcript.goal
    informed = {
        (a.service, a.slot) for acts in system_acts(transcript) for a in acts if a.act is A.INFORM and a.slot
    }
    requested = {(t.service, s) for t in goal.tasks for s in t.requests}
    tp, fp, fn = len(informed & requested), len(informed - requested), len(requested - informed)
    found = [_task_found(t, transcript) for t in goal.tasks]
    complete = all(found)
    success = complete and fn == 0
    booking = [f for t, f in zip(goal.tasks, found, strict=True) if t.transactional]
    # Slot accuracy: the system's final state against the user's final constraints.
    state = transcript.state
    final = (
        transcript.user.constraints
        if transcript.user is not None
        else [dict(t.constraints) for t in goal.tasks]
    )
    correct = total = 0
    for task, constraints in zip(goal.tasks, final, strict=True):
        tracked = state.frame(task.service).slot_values
        for slot, value in constraints.items():
            total += 1
            correct += bool(tracked.get(slot)) and same_value(value, tracked[slot][0])
    # Joint goal accuracy per turn: the tracked state against what the user had said by then.
    jga_correct = 0
    for turn in transcript.turns:
        belief = turn.user_belief
        services = set(belief) | {s for s, f in turn.reply.state.frames.items() if f.slot_values}
        jga_correct += all(
            _same_frame(
                {k: v[0] for k, v in turn.reply.state.frame(s).slot_values.items() if v}, belief.get(s, {})
            )
            for s in services
        )
    return DialogueScore(
        service=goal.tasks[0].service,
        success=success,
        complete=complete,
        booked=all(booking) if booking else None,
        inform_tp=tp,
        inform_fp=fp,
        inform_fn=fn,
        turns=len(transcript.turns),
        slots_correct=correct,
        slots_total=total,
        jga_correct=jga_correct,
        jga_total=len(transcript.turns),
        repeated_turns=repeated_turns(system_acts(transcript)),
        abandoned=transcript.user.abandoned if transcript.user is not None else False,
        latencies_ms=tuple(t.ms for t in transcript.turns),
        texts=tuple(t.reply.text for t in transcript.turns if t.reply.text),
        satisfaction=_mean([t.satisfaction for t in transcript.turns if t.satisfaction is not None]),
        contexts=_contexts(transcript),
        reply_acts=tuple(t.reply.acts for t in transcript.turns if t.reply.text),
        wrong_transactions=tuple(wrong_transactions(transcript)),
        invented=tuple(_invented(transcript, values)) if values is not None else (),
        checked_replies=sum(bool(t.reply.text) for t in transcript.turns) if values is not None else 0,
        wrong_service=_wrong_service(transcript),
        engagingness=_mean(engagement(transcript)),
    )


def _invented(transcript: Transcript, values: ValueCheck) -> list[str]:
    out = []
    for i, turn in enumerate(transcript.turns):
        if turn.reply.text:
            found = values.invented(turn.reply.text, turn.reply.acts, turn.reply.state)
            if found:
                out.append(f"{i}: {', '.join(found)}")
    return out


def _wrong_service(transcript: Transcript) -> bool | None:
    acted = first_service(system_acts(transcript))
    return None if acted is None else acted != transcript.goal.tasks[0].service


def _contexts(transcript: Transcript) -> tuple[str, ...]:
    """Before each reply: the previous reply and the user's turn, as the coherence scorer reads them."""
    out, previous = [], ""
    for turn in transcript.turns:
        if turn.reply.text:
            head = f"system: {previous} " if previous else ""
            out.append(f"{head}user: {turn.user_text}")
            previous = turn.reply.text
    return tuple(out)


def _median(values: Sequence[float]) -> float | None:
    return float(np.median(values)) if values else None


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def repeated_turns(turns: Sequence[tuple[DialogueAct, ...]]) -> int:
    """System turns that repeat the previous one, or request a slot already requested before."""
    count = 0
    asked: set[tuple[str | None, str]] = set()
    previous: tuple[DialogueAct, ...] | None = None
    for acts in turns:
        requests = {(a.service, a.slot) for a in acts if a.act is A.REQUEST and a.slot}
        if acts == previous or requests & asked:
            count += 1
        asked |= requests
        previous = acts
    return count


def distinct_n(texts: Iterable[str], n: int) -> float | None:
    """Distinct n-grams over all n-grams of the texts (corpus level); None without text."""
    grams = [
        tuple(tokens[i : i + n])
        for text in texts
        for tokens in [text.lower().split()]
        for i in range(len(tokens) - n + 1)
    ]
    return len(set(grams)) / len(grams) if grams else None


def repeats_ngram(text: str, n: int = 3) -> bool:
    """Whether a reply says the same word n-gram twice ("the address is X and the address is X")."""
    tokens = text.lower().split()
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(grams) != len(set(grams))


def _weighted(pairs: Sequence[tuple[float, int]]) -> float | None:
    """The mean of per-dialogue shares weighted by their counts (a share of all the replies)."""
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else None


def _rate(values: Sequence[bool]) -> float | None:
    return float(np.mean(values)) if values else None


def aggregate(scores: Sequence[DialogueScore]) -> dict[str, float | int | None]:
    """The architecture's flat keys for a set of dialogues."""
    tp = sum(s.inform_tp for s in scores)
    fp = sum(s.inform_fp for s in scores)
    fn = sum(s.inform_fn for s in scores)
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    latencies = [ms for s in scores for ms in s.latencies_ms]
    turns = sum(s.turns for s in scores)
    slots = sum(s.slots_total for s in scores)
    texts = [t for s in scores for t in s.texts]
    checked = sum(s.checked_replies for s in scores)
    invented = sum(len(s.invented) for s in scores)
    return {
        "n_dialogues": len(scores),
        "success_rate": _rate([s.success for s in scores]),
        "complete_rate": _rate([s.complete for s in scores]),
        "book_rate": _rate([s.booked for s in scores if s.booked is not None]),
        "inform_precision": precision,
        "inform_recall": recall,
        "inform_f1": f1,
        "avg_turns": turns / len(scores) if scores else None,
        "slot_accuracy": sum(s.slots_correct for s in scores) / slots if slots else None,
        "joint_goal_accuracy": sum(s.jga_correct for s in scores) / turns if turns else None,
        "coherence": _mean([s.coherence for s in scores if s.coherence is not None]),
        "repetition_rate": sum(s.repeated_turns for s in scores) / turns if turns else None,
        "ngram_repetition": _rate([repeats_ngram(t) for t in texts]),
        "fluency_ppl": _median([s.fluency_ppl for s in scores if s.fluency_ppl is not None]),
        "turns_to_success": _mean([s.turns for s in scores if s.success]),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        "satisfaction": _mean([s.satisfaction for s in scores if s.satisfaction is not None]),
        "abandon_rate": _rate([s.abandoned for s in scores]),
        "wrong_transaction_rate": _rate([bool(s.wrong_transactions) for s in scores]),
        "hallucinated_value_rate": invented / checked if checked else None,
        "wrong_service_rate": _rate([s.wrong_service for s in scores if s.wrong_service is not None]),
        "engagingness": _mean([s.engagingness for s in scores if s.engagingness is not None]),
        "human_likeness": _weighted(
            [(s.human_like, len(s.texts)) for s in scores if s.human_like is not None]
        ),
        "turn_latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
        "turn_latency_ms_p99": float(np.percentile(latencies, 99)) if latencies else None,
    }


def per_schema(scores: Sequence[DialogueScore]) -> dict[str, dict[str, float | int | None]]:
    groups: dict[str, list[DialogueScore]] = defaultdict(list)
    for score in scores:
        groups[score.service].append(score)
    return {service: aggregate(group) for service, group in sorted(groups.items())}
