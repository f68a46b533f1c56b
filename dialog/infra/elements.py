"""Schema elements as sentences, and their embeddings: what lets a learned stage read a service it was
never trained on.

Every intent, slot and categorical value of a schema becomes a sentence
(``"<service description>. <slot name>: <slot description>"``), embedded once by the frozen encoder
(mean pooling, as the sentence model was trained) and cached. A stage indexes the sentences it needs in
a :class:`TextTable`; its heads compare the turn's encoding with rows of the table. The schema-guided
tracker (``dialog.dst``) and the schema-conditioned NLU (``dialog.nlu.described``) share this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dialog.common.text import words
from dialog.schema import Schema


def intent_text(schema: Schema, name: str) -> str:
    intent = schema.intent(name)
    return f"{schema.description}. {words(name)}: {intent.description or words(name)}"


def slot_text(schema: Schema, name: str) -> str:
    slot = schema.slot(name)
    return f"{schema.description}. {words(name)}: {slot.description or words(name)}"


def value_text(schema: Schema, name: str, value: str) -> str:
    slot = schema.slot(name)
    return f"{words(name)}: {slot.description or words(name)}. {value}"


class TextTable:
    """Schema texts → rows of an embedding table (the texts are embedded once, by SchemaEmbedder)."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}

    def index(self, text: str) -> int:
        if text not in self.rows:
            self.rows[text] = len(self.rows)
        return self.rows[text]

    @property
    def texts(self) -> list[str]:
        return list(self.rows)


class SchemaEmbedder:
    """Sentence embeddings of schema texts with the frozen encoder, cached by text."""

    def __init__(self, encoder: nn.Module | None = None, tokenizer: Any = None, batch_size: int = 64) -> None:
        from dialog.infra.encoder import load_encoder, load_tokenizer

        self.encoder = encoder if encoder is not None else load_encoder()
        self.encoder.eval()
        self.tokenizer = tokenizer or load_tokenizer()
        self.batch_size = batch_size
        self.cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        """(N, D) for the texts, computing only the ones not seen before."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i : i + self.batch_size]
            enc = self.tokenizer(chunk, padding=True, truncation=True, max_length=96, return_tensors="pt")
            hidden = self.encoder(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            pooled = nn.functional.normalize(pooled, dim=-1)
            for text, vector in zip(chunk, pooled, strict=True):
                self.cache[text] = vector.clone()
        if not texts:
            return torch.zeros(0, 384)
        return torch.stack([self.cache[t] for t in texts])


class ElementEmbeddings:
    """A table of schema texts and the tensor of their embeddings, grown as texts are indexed."""

    def __init__(self, tokenizer: Any = None, hidden: int = 384) -> None:
        self.tokenizer = tokenizer
        self.table = TextTable()
        self.embedder: SchemaEmbedder | None = None
        self._tensor = torch.zeros(0, hidden)

    def tensor(self) -> torch.Tensor:
        """(N, D) embeddings of every text indexed so far."""
        if self._tensor.shape[0] < len(self.table.rows):
            if self.embedder is None:
                self.embedder = SchemaEmbedder(tokenizer=self.tokenizer)
            self._tensor = self.embedder.embed(self.table.texts)
        return self._tensor
