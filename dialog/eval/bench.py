"""`tod bench`: how fast an agent is on this machine. Per stage and whole turn latency (p50, p99) from the
stage traces of simulated text-level dialogues, dialogues per second at act and at text level, and the
process's peak memory.
"""

from __future__ import annotations

import resource
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from dialog.backend import Backend
from dialog.conversation.agent import PipelineAgent, create_agent
from dialog.conversation.simulation import Level, run_dialogue
from dialog.nlg.seq2seq import Seq2SeqNLG
from dialog.schema import Schema
from dialog.types import GenerationSettings
from dialog.user.agenda import AgendaUser
from dialog.user.goals import episodes
from dialog.user.text import UserText


def _dialogues(
    agent: Any,
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend],
    n: int,
    seed: int,
    level: Level,
    progress: Callable[[int], None] | None = None,
) -> tuple[float, dict[str, list[float]]]:
    """Seconds for ``n`` dialogues per schema, and the stage times (ms) of every turn."""
    user = AgendaUser(schemas, backends)
    text = UserText(schemas) if level == "text" else None
    times: dict[str, list[float]] = defaultdict(list)
    start = time.perf_counter()
    for _, schema, goal, rng in episodes(schemas, backends, n, seed):
        sandboxed = [backends[schema.service]]
        transcript = run_dialogue(agent, user, goal, rng, level, None, text, backends=sandboxed)
        for turn in transcript.turns:
            times["turn"].append(turn.ms)
            for stage in turn.reply.trace:
                times[stage.stage].append(stage.ms)
        if progress is not None:
            progress(1)
    return time.perf_counter() - start, times


def bench(
    agent_name: str,
    schemas: Sequence[Schema],
    backends: Mapping[str, Backend],
    n: int = 20,
    seed: int = 0,
    stages: Mapping[str, str | None] | None = None,
    greedy: bool = False,
    memo: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """``greedy``: the NLG decodes greedily (not its own decoding); ``memo``: it may reuse the replies
    of decodings already done (off: every reply is decoded, the cold-start figure)."""
    agent = create_agent(agent_name, schemas, backends, **dict(stages or {}))
    out: dict[str, Any] = {"agent": agent_name, "stages": dict(agent.names), "n_per_schema": n}
    nlg = getattr(agent, "nlg", None)
    if isinstance(nlg, Seq2SeqNLG) and isinstance(agent, PipelineAgent):
        changes: dict[str, Any] = {"decoding": GenerationSettings()} if greedy else {}
        if not memo:
            changes["memo_size"] = 0
        nlg = nlg.configured(**changes)
        agent = agent.with_stages(nlg=nlg)
        out["nlg_decoding"] = asdict(nlg.inference.decoding)
        out["nlg_memo"] = bool(nlg.inference.memo_size)
    levels = 2 if hasattr(agent, "policy") else 1
    total, done = levels * n * len(schemas), [0]

    def advance(k: int) -> None:
        done[0] += k
        if progress is not None:
            progress(done[0], total)

    if hasattr(agent, "policy"):  # a pipeline; SimpleTOD reads text only
        seconds, _ = _dialogues(agent, schemas, backends, n, seed, "acts", advance)
        out["dialogues_per_s_acts"] = n * len(schemas) / seconds
    seconds, times = _dialogues(agent, schemas, backends, n, seed, "text", advance)
    out["dialogues_per_s"] = out["dialogues_per_s_text"] = n * len(schemas) / seconds
    for stage, values in times.items():
        out[f"{stage}_ms_p50"] = float(np.percentile(values, 50))
        out[f"{stage}_ms_p99"] = float(np.percentile(values, 99))
    out["turns"] = len(times["turn"])
    # The yardstick: one MiniLM pass on a turn-sized input, timed in this run, on this machine.
    out["encoder_pass_ms"] = encoder_pass_ms()
    for q in ("p50", "p99"):
        out[f"turn_{q}_in_passes"] = round(out[f"turn_ms_{q}"] / out["encoder_pass_ms"], 2)
    out["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def encoder_pass_ms(
    text: str = "I would like to book a table for two at an italian place tomorrow at 8 pm", repeat: int = 50
) -> float:
    """The median time of one forward pass of the float MiniLM encoder over ``text`` (batch of one),
    after a warm-up: what turn latency is measured against, since machines differ."""
    import time

    import torch

    from dialog.infra.encoder import load_encoder, load_tokenizer

    encoder, tokenizer = load_encoder().eval(), load_tokenizer()
    batch = tokenizer([text], return_tensors="pt")
    times = []
    with torch.inference_mode():
        for i in range(repeat + 10):
            start = time.perf_counter()
            encoder(**batch)
            if i >= 10:
                times.append((time.perf_counter() - start) * 1000)
    return float(np.percentile(times, 50))
