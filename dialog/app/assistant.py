"""The public API behind the app: load schemas and components once per process, hold many
conversations, log them, author schemas, run evaluations. The web UI calls this and nothing else.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dialog.backend import Backend, open_backends
from dialog.common import paths
from dialog.common.yamlpos import Problem, YamlProblems, load_located
from dialog.conversation.agent import AGENT_STAGES, PipelineAgent, create_agent
from dialog.conversation.session import Session
from dialog.errors import BackendError, TodError
from dialog.infra.convlog import ConversationLog
from dialog.registry import load_builtins, registry
from dialog.schema import Schema, expand_paths, load_schema, load_schemas, parse_schema
from dialog.types import (
    BackendResult,
    DialogueAct,
    DialogueState,
    GenerationSettings,
    Reply,
    Speaker,
    StageTrace,
    Turn,
)


@dataclass
class Conversation:
    """One user's conversation: its id and the state after each turn (for undo)."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    states: list[DialogueState] = field(default_factory=lambda: [DialogueState()])

    @property
    def state(self) -> DialogueState:
        return self.states[-1]


@dataclass(frozen=True)
class TurnView:
    """What the UI shows for one turn."""

    reply: str
    acts: tuple[DialogueAct, ...]
    nlu: tuple[DialogueAct, ...]
    state: DialogueState
    backend: BackendResult | None
    trace: tuple[StageTrace, ...]


def act_rows(acts: Sequence[DialogueAct]) -> list[list[str]]:
    return [[a.service or "", a.act.value, a.slot or "", " | ".join(a.values)] for a in acts]


def state_rows(state: DialogueState) -> list[list[str]]:
    rows = []
    for service, frame in state.frames.items():
        rows.append([service, "(intent)", frame.active_intent])
        rows += [[service, slot, " | ".join(values)] for slot, values in frame.slot_values.items()]
        if frame.requested_slots:
            rows.append([service, "(requested)", ", ".join(frame.requested_slots)])
    return rows


class Assistant:
    """Schemas, backends and agents for one process; conversations are passed in and out."""

    def __init__(
        self,
        schema_paths: Sequence[str] | None = None,
        db_dir: Path | None = None,
        log_path: Path | None = None,
        user_schema_dir: Path | None = None,
    ) -> None:
        load_builtins()
        self._agents: dict[tuple[Any, ...], PipelineAgent] = {}
        self._lock = threading.Lock()
        self.db_dir = db_dir
        self.user_schema_dir = user_schema_dir or paths.project_root() / "schemas" / "user"
        self.schemas: dict[str, Schema] = {}
        self.backends: dict[str, Backend] = {}
        self.skipped: list[str] = []
        self.notes: list[str] = []
        patterns = list(schema_paths or [str(paths.schemas_dir() / "**" / "*.yaml")])
        for schema in load_schemas(expand_paths(patterns)):
            self._add(schema)
        if not self.schemas:
            raise TodError(f"no usable schema in {patterns}: {'; '.join(self.skipped)}")
        self.log = ConversationLog(
            log_path or paths.project_root() / "data" / "logs" / "conversations.sqlite"
        )

    def _add(self, schema: Schema) -> None:
        try:
            self.backends[schema.service] = open_backends([schema], self.db_dir)[schema.service]
        except BackendError as exc:  # e.g. an imported service before `tod db build`
            self.skipped.append(f"{schema.service}: {exc}")
            return
        self.schemas[schema.service] = schema
        with self._lock:
            self._agents.clear()  # agents are built over the set of schemas

    # --- what can be chosen -----------------------------------------------------------------

    def services(self) -> list[str]:
        return sorted(self.schemas)

    def agent_names(self) -> list[str]:
        """The pipeline agents, and ``simpletod`` when its model is there."""
        from dialog.common.paths import models_dir

        names = sorted(AGENT_STAGES)
        return [*names, "simpletod"] if (models_dir() / "simpletod" / "meta.json").is_file() else names

    def default_agent(self) -> str:
        """The best agent available: the trained pipeline when its models load, else the form agent."""
        try:
            self.agent("pipeline")
        except TodError as exc:
            self.notes.append(f"the pipeline agent is not available: {exc}")
            return "form"
        return "pipeline"

    def stage_names(self, stage: str) -> list[str]:
        return registry.names(stage)

    def agent(self, name: str, services: Sequence[str] | None = None, **stages: str | None) -> PipelineAgent:
        """An agent over the chosen services, built once and reused by every conversation."""
        chosen = tuple(sorted(services or self.schemas))
        unknown = [s for s in chosen if s not in self.schemas]
        if unknown:
            raise TodError(f"unknown services {unknown} (known: {', '.join(self.services())})")
        key = (name, chosen, tuple(sorted((k, v) for k, v in stages.items() if v)))
        with self._lock:
            if key not in self._agents:
                schemas = [self.schemas[s] for s in chosen]
                backends = {s: self.backends[s] for s in chosen}
                self._agents[key] = create_agent(name, schemas, backends, **stages)
            return self._agents[key]

    # --- conversations ----------------------------------------------------------------------

    def new_conversation(self) -> Conversation:
        return Conversation()

    def respond(
        self,
        conversation: Conversation,
        text: str,
        agent: str = "form",
        services: Sequence[str] | None = None,
        stages: Mapping[str, str | None] | None = None,
        settings: GenerationSettings | None = None,
    ) -> TurnView:
        """One turn; the conversation gets the new state and the log gets both turns."""
        bot = self.agent(agent, services, **dict(stages or {}))
        if len(conversation.states) == 1:
            self.log.start(conversation.id, agent, sorted(services or self.schemas))

        def log(index: int, turn: Turn) -> None:
            self.log.append(conversation.id, index, turn)

        # The live backends, not a sandbox: what the user books in the app is booked.
        session = Session(bot, state=conversation.state, log=log)
        reply: Reply = session.step(text, settings=settings)
        conversation.states.append(reply.state)
        nlu = next((t.output for t in reply.trace if t.stage == "nlu"), ())
        backend = next((t.output for t in reply.trace if t.stage == "backend"), None)
        return TurnView(reply.text, reply.acts, nlu, reply.state, backend, reply.trace)

    def undo(self, conversation: Conversation) -> DialogueState:
        """Take back the last user turn and the reply to it."""
        if len(conversation.states) > 1:
            conversation.states.pop()
            self.log.truncate(conversation.id, len(conversation.state.history))
        return conversation.state

    def export(self, conversation: Conversation) -> dict[str, Any]:
        """The conversation as an SGD dialogue."""
        from dialog.types import Dialogue

        history = conversation.state.history
        services = tuple(dict.fromkeys(f.service for t in history for f in t.frames if f.service))
        return Dialogue(conversation.id, services, history).to_sgd()

    @staticmethod
    def transcript(conversation: Conversation) -> list[dict[str, str]]:
        """Chat messages (role, content) for the UI."""
        roles = {Speaker.USER: "user", Speaker.SYSTEM: "assistant"}
        return [{"role": roles[t.speaker], "content": t.utterance} for t in conversation.state.history]

    # --- schemas ----------------------------------------------------------------------------

    def schema_text(self, service: str) -> str:
        schema = self.schemas[service]
        if schema.path is not None and schema.path.is_file():
            return schema.path.read_text(encoding="utf-8")
        return schema.to_yaml()

    def validate(self, text: str, name: str = "schema.yaml") -> list[Problem]:
        try:
            parse_schema(load_located(text, name), name, base=self.user_schema_dir)
        except YamlProblems as exc:
            return exc.problems
        return []

    def save_schema(self, text: str, file_name: str | None = None) -> tuple[Schema | None, list[Problem]]:
        """Validate and save a schema into the user schema folder, and serve it at once."""
        problems = self.validate(text)
        if problems:
            return None, problems
        schema = parse_schema(load_located(text, "schema.yaml"), "schema.yaml", base=self.user_schema_dir)
        name = file_name or f"{schema.service}.yaml"
        if "/" in name or "\\" in name or not name.endswith(".yaml"):
            raise TodError(f"a schema file name is a plain name ending in .yaml, not {name!r}")
        self.user_schema_dir.mkdir(parents=True, exist_ok=True)
        path = self.user_schema_dir / name
        path.write_text(text, encoding="utf-8")
        saved = load_schema(path)
        self._add(saved)
        return saved, []

    # --- evaluation -------------------------------------------------------------------------

    def user_texts(self) -> list[str]:
        """The simulated users' words the app offers: the learned user first, when it is installed."""
        from dialog.common.paths import models_dir
        from dialog.user.learned import MODEL

        return ["model", "templates"] if (models_dir() / MODEL / "meta.json").is_file() else ["templates"]

    def evaluate(
        self,
        agent: str,
        services: Sequence[str],
        n: int,
        seed: int,
        level: str,
        error_rate: float,
        progress: Callable[[int, int], None] | None = None,
        user_text: str = "templates",
    ) -> Any:
        """Simulated dialogues on fresh backends (the chat's bookings are left alone); ``user_text``:
        the simulated user's words (``templates``, or ``model``: the learned user)."""
        from dialog.eval.dialogues import EvalConfig, evaluate

        schemas = [self.schemas[s] for s in services]
        backends = open_backends(schemas, self.db_dir)
        config = EvalConfig(
            agent=agent,
            n=n,
            seed=seed,
            level=level,  # type: ignore[arg-type]
            nlu_error=error_rate,
            user_text=user_text,
        )
        return evaluate(schemas, backends, config, progress=progress, keep_transcripts=10)
