"""The Transformer NLG's decoder step written out over its own modules (issue 11), and SimpleTOD's.

Decoding one token through ``BertLMHeadModel.forward`` runs a dozen layers of Transformers' wrappers
(mask creation, the cache classes, the attention interface, output dataclasses) around the few
matrix products that matter; on a CPU, at one token per row, that overhead was most of a reply's
time. ``LeanDecoder`` calls the same modules (embeddings, the linear layers — int8 or float — the
layer norms, the activation and the output head) in the same order, with its own key/value lists:
the same arithmetic, so the same scores up to float rounding (tests/nlg/test_seq2seq.py compares the
replies). Evaluation mode only: there is no dropout.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import torch
from torch.nn import functional as F


class LeanDecoder:
    """One decoding of a batch: ``start`` with the encoder's output, then ``feed`` token by token
    (``reorder_cache`` keeps the rows of a beam search). A ``Stepper`` of dialog/generation/decode.py."""

    def __init__(self, decoder: Any) -> None:
        self.embeddings = decoder.bert.embeddings
        self.layers = list(decoder.bert.encoder.layer)
        self.head = decoder.cls.predictions
        config = decoder.config
        self.n_heads = config.num_attention_heads
        self.head_size = config.hidden_size // config.num_attention_heads
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.cross: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.mask = torch.ones(0, dtype=torch.bool)
        self.length = 0

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, tokens, hidden) → (rows, heads, tokens, head size)."""
        return x.view(x.shape[0], x.shape[1], self.n_heads, self.head_size).transpose(1, 2)

    def _attend(self, i: int, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Layer ``i``'s self-attention block on the new tokens ``x`` (rows, n, hidden), their keys
        and values added to the cache (``self.length`` is the cache's length before them)."""
        own = self.layers[i].attention
        q = self._split(own.self.query(x))
        k, v = self._split(own.self.key(x)), self._split(own.self.value(x))
        if self.length:
            k, v = torch.cat([self.keys[i], k], 2), torch.cat([self.values[i], v], 2)
            self.keys[i], self.values[i] = k, v
        else:
            self.keys.append(k)
            self.values.append(v)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        out = out.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)
        return own.output.LayerNorm(own.output.dense(out) + x)

    def start(self, memory: torch.Tensor, mask: torch.Tensor) -> None:
        """The cross-attention keys and values of every layer, computed once from the encoder's output
        ``memory`` (rows, source tokens, hidden); ``mask`` marks the real source tokens."""
        self.cross = []
        for layer in self.layers:
            attention = layer.crossattention.self
            self.cross.append((self._split(attention.key(memory)), self._split(attention.value(memory))))
        self.mask = mask[:, None, None, :].bool()
        self.keys, self.values, self.length = [], [], 0

    def feed(self, tokens: torch.Tensor, only: AbstractSet[int] | None = None) -> torch.Tensor:
        """The next token's scores (rows, vocabulary) after ``tokens`` (rows, 1); every token is scored
        (``only`` is the stepper protocol's, dialog/generation/decode.py)."""
        e = self.embeddings
        x = (
            e.word_embeddings(tokens)
            + e.token_type_embeddings.weight[0]
            + e.position_embeddings.weight[self.length]
        )
        x = e.LayerNorm(x)
        rows = x.shape[0]
        for i, layer in enumerate(self.layers):
            x = self._attend(i, x, None)
            cross = layer.crossattention
            ck, cv = self.cross[i]
            q = self._split(cross.self.query(x))
            out = F.scaled_dot_product_attention(q, ck, cv, attn_mask=self.mask)
            x = cross.output.LayerNorm(cross.output.dense(out.transpose(1, 2).reshape(rows, 1, -1)) + x)
            hidden = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
            x = layer.output.LayerNorm(layer.output.dense(hidden) + x)
        self.length += 1
        scores: torch.Tensor = self.head(x)[:, -1, :]
        return scores

    def reorder_cache(self, order: torch.Tensor) -> None:
        """Keep the rows ``order`` (a beam search's survivors, possibly repeated)."""
        self.keys = [k[order] for k in self.keys]
        self.values = [v[order] for v in self.values]
        self.cross = [(k[order], v[order]) for k, v in self.cross]
        self.mask = self.mask[order]


class LeanLM(LeanDecoder):
    """The same step for a decoder without cross-attention (SimpleTOD's language model), fed any
    number of tokens at a time: the first ``prefix`` tokens fed see each other both ways (a prefix
    language model's context), the later tokens see everything before them."""

    _rows: tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # ``only``'s, last gathered

    def __init__(self, decoder: Any, prefix: int = 0) -> None:
        super().__init__(decoder)
        self.prefix = prefix

    def feed(self, tokens: torch.Tensor, only: AbstractSet[int] | None = None) -> torch.Tensor:
        """The scores (rows, vocabulary) of the token after ``tokens`` (rows, n); with ``only``, just
        those tokens' (the rest -inf): the output layer is half a step's arithmetic, and a machine
        that allows a few tokens needs no more."""
        e = self.embeddings
        n = tokens.shape[1]
        positions = torch.arange(self.length, self.length + n)
        x = e.LayerNorm(
            e.word_embeddings(tokens) + e.token_type_embeddings.weight[0] + e.position_embeddings(positions)
        )
        seen = torch.arange(self.length + n)
        sees = seen[None, :] <= positions[:, None]  # (n, past + n): causal
        if not self.length and self.prefix:
            sees = sees | (seen[None, :] < self.prefix)
        mask = None if n == 1 else sees[None, None]
        for i, layer in enumerate(self.layers):
            x = self._attend(i, x, mask)
            hidden = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(x))
            x = layer.output.LayerNorm(layer.output.dense(hidden) + x)
        self.length += n
        last = x[:, -1, :]
        if only is None:
            scores: torch.Tensor = self.head(last)
            return scores
        hidden = self.head.transform(last)
        decoder = self.head.decoder
        if self._rows is None or self._rows[0] is not only:  # a new set (a machine reuses one while it may)
            index = torch.tensor(sorted(only), dtype=torch.long)
            self._rows = (only, index, decoder.weight[index].T.contiguous(), decoder.bias[index])
        _, index, weight, bias = self._rows
        scores = torch.full((last.shape[0], decoder.weight.shape[0]), float("-inf"), dtype=hidden.dtype)
        scores[:, index] = hidden @ weight + bias
        return scores

    def reorder_cache(self, order: torch.Tensor) -> None:
        self.keys = [k[order] for k in self.keys]
        self.values = [v[order] for v in self.values]
