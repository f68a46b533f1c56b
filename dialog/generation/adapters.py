"""LoRA adapters of the generators (the Transformer NLG, SimpleTOD, the learned user): which layers
carry them, and folding them into the weights for inference."""

from __future__ import annotations

from torch import nn

LORA_TARGETS = (
    r".*\.(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)$"
)


def merge_adapters(model: nn.Module) -> None:
    """Fold the LoRA adapters into the weights and put the plain layers back in their place: the
    adapters' wrappers cost a Python call per layer and step even when merged (about a tenth of a
    decoding step)."""
    from peft.tuners.lora import LoraLayer

    wrapped = [(name, module) for name, module in model.named_modules() if isinstance(module, LoraLayer)]
    for name, module in wrapped:
        module.merge()
        parent, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, child, module.get_base_layer())
