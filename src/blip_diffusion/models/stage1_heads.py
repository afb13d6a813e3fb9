"""The heads of BLIP-2's stage-1 objectives on top of the Q-Former (Li et al. 2023, BLIP-2 Sec. 3.2).

- ITC (image-text contrastive): query outputs and the text's [CLS] output projected to a shared
  space; an image's similarity to a text is the best of its queries' (``vision_proj``, ``text_proj``,
  learned temperature ``temp``).
- ITM (image-text matching): a binary classifier on the multimodal query outputs (``itm_head``).
- ITG (image-grounded text generation): a BERT language-model head over the text positions
  (``lm_head``, its decoder tied to the Q-Former's word embeddings).
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.activations import ACT2FN


class LMHead(nn.Module):
    """BERT's prediction head: dense -> activation -> LayerNorm -> decoder (tied to word embeddings)."""

    def __init__(self, width: int, activation: str, eps: float, word_embeddings: nn.Embedding):
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.act = ACT2FN[activation]
        self.LayerNorm = nn.LayerNorm(width, eps=eps)
        self.word_embeddings = word_embeddings  # shared with the Q-Former, not a copy
        self.bias = nn.Parameter(torch.zeros(word_embeddings.num_embeddings))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (B, T, D) -> logits (B, T, vocab)."""
        x = self.LayerNorm(self.act(self.dense(hidden)))
        return x @ self.word_embeddings.weight.t() + self.bias


class Stage1Heads(nn.Module):
    """ITC projections and temperature, ITM classifier, ITG language-model head."""

    def __init__(self, width: int, embed_dim: int, activation: str, eps: float, word_embeddings: nn.Embedding,
                 temperature: float = 0.07):
        super().__init__()
        self.vision_proj = nn.Linear(width, embed_dim)
        self.text_proj = nn.Linear(width, embed_dim)
        self.itm_head = nn.Linear(width, 2)
        self.temp = nn.Parameter(torch.tensor(temperature))
        self.lm_head = LMHead(width, activation, eps, word_embeddings)

    def own_state_dict(self) -> dict[str, torch.Tensor]:
        """The heads' weights without the tied word embeddings (saved with the Q-Former)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("lm_head.word_embeddings.")}
