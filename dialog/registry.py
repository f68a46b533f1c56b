"""Short names to component factories, per stage (``nlu: bert``, ``policy: ppo``).

Unknown names fail loudly and list what exists. Components register themselves with the decorator
where they are defined; ``load_builtins`` imports the modules that hold the built-in components.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, TypeVar

from dialog.errors import RegistryError

STAGES = ("nlu", "dst", "policy", "nlg", "agent", "user")
#: Modules that register built-in components when imported (filled as stages are implemented).
BUILTIN_MODULES: tuple[str, ...] = (
    "dialog.nlu.rule",
    "dialog.nlu.described",  # the learned NLUs (labels and described) and their factory
    "dialog.dst.rule",
    "dialog.dst.bert",
    "dialog.policy.form",
    "dialog.policy.ppo",
    "dialog.nlg.template",
    "dialog.nlg.seq2seq",
    "dialog.conversation.agent",
    "dialog.e2e.agent",
    "dialog.user.agenda",
)

F = TypeVar("F", bound=Callable[..., Any])


class Registry:
    """Factories per stage. A factory is a callable (usually a class or its ``from_config``)."""

    def __init__(self, stages: tuple[str, ...] = STAGES) -> None:
        self._factories: dict[str, dict[str, Callable[..., Any]]] = {s: {} for s in stages}

    def _stage(self, stage: str) -> dict[str, Callable[..., Any]]:
        if stage not in self._factories:
            raise RegistryError(f"unknown stage {stage!r} (stages: {', '.join(self._factories)})")
        return self._factories[stage]

    def register(self, stage: str, name: str) -> Callable[[F], F]:
        """Decorator: ``@registry.register("nlu", "rule")`` on a class or factory function."""
        factories = self._stage(stage)

        def decorate(factory: F) -> F:
            if name in factories and factories[name] is not factory:
                raise RegistryError(f"{stage} component {name!r} is already registered")
            factories[name] = factory
            return factory

        return decorate

    def get(self, stage: str, name: str) -> Callable[..., Any]:
        factories = self._stage(stage)
        if name not in factories:
            known = ", ".join(sorted(factories)) or "none registered yet"
            raise RegistryError(f"unknown {stage} component {name!r} (known: {known})")
        return factories[name]

    def create(self, stage: str, name: str, **config: Any) -> Any:
        return self.get(stage, name)(**config)

    def names(self, stage: str) -> list[str]:
        return sorted(self._stage(stage))

    def snapshot(self) -> dict[str, list[str]]:
        return {stage: self.names(stage) for stage in self._factories}


registry = Registry()


def load_builtins() -> Registry:
    """Import the modules of the built-in components so that they register, and return the registry."""
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    return registry
