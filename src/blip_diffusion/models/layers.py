"""Transformer building blocks shared by the vision, Q-Former and text towers.

Written here rather than imported from transformers because their call signatures changed
between transformers 4 and 5 (the causal-mask argument of CLIP's encoder was removed, which
silently changed the outputs of the original port); these blocks keep the official weight
names so checkpoints load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn
from transformers.activations import ACT2FN


def additive_mask(keep: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Turn a boolean "may attend" mask into an additive one (0 where kept, a large negative elsewhere)."""
    mask = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
    return mask.masked_fill(~keep, torch.finfo(dtype).min)


def attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    num_heads: int,
    mask: torch.Tensor | None = None,
    dropout: float = 0.0,
    causal: bool = False,
) -> torch.Tensor:
    """Multi-head scaled dot-product attention.

    query (B, Tq, D), key/value (B, Tk, D); mask additive, broadcastable to (B, heads, Tq, Tk);
    ``causal`` lets position i see positions <= i only.
    Returns (B, Tq, D).
    """
    batch, length_q, width = query.shape
    head_dim = width // num_heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(batch, -1, num_heads, head_dim).transpose(1, 2)  # (B, heads, T, head_dim)

    out = F.scaled_dot_product_attention(
        split(query), split(key), split(value), attn_mask=mask, dropout_p=dropout, is_causal=causal
    )
    return out.transpose(1, 2).reshape(batch, length_q, width)


class MLP(nn.Module):
    """fc1 -> activation -> fc2 (CLIP / BLIP-2 vision naming)."""

    def __init__(self, width: int, hidden: int, activation: str):
        super().__init__()
        self.activation_fn = ACT2FN[activation]
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.activation_fn(self.fc1(x)))


class PreNormLayer(nn.Module):
    """Pre-norm transformer block of CLIP and ViT: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, width: int, eps: float, self_attn: nn.Module, mlp: MLP):
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(width, eps=eps)
        self.self_attn = self_attn
        self.layer_norm2 = nn.LayerNorm(width, eps=eps)
        self.mlp = mlp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class LayerStack(nn.Module):
    """``layers`` applied in order (weights under ``layers.N``), optionally with gradient checkpointing."""

    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)
        self.gradient_checkpointing = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                x = torch.utils.checkpoint.checkpoint(layer, x, use_reentrant=False)
            else:
                x = layer(x)
        return x
