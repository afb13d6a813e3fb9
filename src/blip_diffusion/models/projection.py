"""Projection of the Q-Former's query outputs into the CLIP text-embedding space."""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import QuickGELUActivation


class SubjectProjection(nn.Module):
    """x + Dropout(dense2(QuickGELU(dense1(LayerNorm(x))))): the residual takes the un-normalised input."""

    def __init__(self, width: int, hidden: int, out_width: int, dropout: float = 0.1, eps: float = 1e-12):
        super().__init__()
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.dense1 = nn.Linear(width, hidden)
        self.act_fn = QuickGELUActivation()
        self.dense2 = nn.Linear(hidden, out_width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, Q, D) -> subject embeddings (B, Q, D)."""
        return self.dropout(self.dense2(self.act_fn(self.dense1(self.LayerNorm(x))))) + x
