"""A linear-chain CRF over word-level tag scores: negative log-likelihood for training and Viterbi
decoding, batched. Shapes: emissions (B, W, K), tags (B, W), mask (B, W) with each row's words first."""

from __future__ import annotations

import torch
from torch import nn


class CRF(nn.Module):
    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.transitions = nn.Parameter(torch.zeros(num_tags, num_tags))  # [from, to]
        self.start = nn.Parameter(torch.zeros(num_tags))
        self.end = nn.Parameter(torch.zeros(num_tags))

    def nll(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood of the gold tags over the sequences that have words."""
        mask = mask.bool()
        has_words = mask[:, 0]
        if not has_words.any():
            return emissions.sum() * 0.0
        emissions, tags, mask = emissions[has_words], tags[has_words].clamp(min=0), mask[has_words]
        return (self._partition(emissions, mask) - self._score(emissions, tags, mask)).mean()

    def _score(self, emissions: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch = torch.arange(emissions.shape[0])
        score = self.start[tags[:, 0]] + emissions[batch, 0, tags[:, 0]]
        for i in range(1, emissions.shape[1]):
            step = self.transitions[tags[:, i - 1], tags[:, i]] + emissions[batch, i, tags[:, i]]
            score = score + step * mask[:, i]
        last = tags[batch, mask.sum(1) - 1]
        return score + self.end[last]

    def _partition(self, emissions: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        alpha = self.start + emissions[:, 0]  # (B, K)
        for i in range(1, emissions.shape[1]):
            nxt = torch.logsumexp(alpha.unsqueeze(2) + self.transitions + emissions[:, i].unsqueeze(1), dim=1)
            alpha = torch.where(mask[:, i].unsqueeze(1), nxt, alpha)
        return torch.logsumexp(alpha + self.end, dim=1)

    @torch.no_grad()
    def decode(self, emissions: torch.Tensor, mask: torch.Tensor) -> list[list[int]]:
        """The best tag sequence of each row (as long as its words)."""
        mask = mask.bool()
        score = self.start + emissions[:, 0]  # (B, K)
        history = []
        for i in range(1, emissions.shape[1]):
            total = score.unsqueeze(2) + self.transitions + emissions[:, i].unsqueeze(1)  # (B, K, K)
            best, index = total.max(dim=1)
            score = torch.where(mask[:, i].unsqueeze(1), best, score)
            history.append(index)
        score = score + self.end
        out: list[list[int]] = []
        for b in range(emissions.shape[0]):
            length = int(mask[b].sum())
            if length == 0:
                out.append([])
                continue
            tag = int(score[b].argmax())
            path = [tag]
            for i in range(length - 2, -1, -1):
                tag = int(history[i][b, tag])
                path.append(tag)
            out.append(path[::-1])
        return out


def pack_words(values: torch.Tensor, word_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Move each row's word-start positions to the front: (B, T, ...) → (B, W, ...) and its mask."""
    order = torch.argsort((~word_mask.bool()).to(torch.int8), dim=1, stable=True)  # word starts first
    width = max(1, int(word_mask.sum(1).max()))
    order = order[:, :width]
    index = order.view(*order.shape, *([1] * (values.dim() - 2))).expand(-1, -1, *values.shape[2:])
    packed = torch.gather(values, 1, index)
    mask = torch.gather(word_mask.bool(), 1, order)
    return packed, mask
