"""The frozen image encoder that feeds the Q-Former.

BLIP-Diffusion uses CLIP ViT-L/14 with its last layer dropped, followed by a LayerNorm
("ln_vision" in LAVIS). The official weights store it in BLIP-2's vision layout: fused qkv
projection, a pre-LayerNorm (CLIP's ``ln_pre``) and the LayerNorm after the last layer as
``post_layernorm``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import Blip2VisionConfig

from blip_diffusion.models.layers import MLP, LayerStack, PreNormLayer, attention


class VisionEmbeddings(nn.Module):
    def __init__(self, config: Blip2VisionConfig):
        super().__init__()
        width = config.hidden_size
        self.class_embedding = nn.Parameter(torch.zeros(1, 1, width))
        self.patch_embedding = nn.Conv2d(3, width, config.patch_size, stride=config.patch_size, bias=False)
        num_positions = (config.image_size // config.patch_size) ** 2 + 1
        self.position_embedding = nn.Parameter(torch.zeros(1, num_positions, width))

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """pixel_values (B, 3, H, W) -> tokens (B, 1 + patches, D)."""
        dtype = self.patch_embedding.weight.dtype
        patches = self.patch_embedding(pixel_values.to(dtype)).flatten(2).transpose(1, 2)  # (B, P, D)
        cls = self.class_embedding.expand(patches.shape[0], -1, -1).to(dtype)
        tokens = torch.cat([cls, patches], dim=1)
        return tokens + self.position_embedding[:, : tokens.shape[1]].to(dtype)


class VisionAttention(nn.Module):
    def __init__(self, config: Blip2VisionConfig):
        super().__init__()
        self.num_heads = config.num_attention_heads
        self.qkv = nn.Linear(config.hidden_size, 3 * config.hidden_size, bias=config.qkv_bias)
        self.projection = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.qkv(x).chunk(3, dim=-1)
        return self.projection(attention(query, key, value, self.num_heads))


def vision_layer(config: Blip2VisionConfig) -> PreNormLayer:
    width = config.hidden_size
    return PreNormLayer(width, config.layer_norm_eps, VisionAttention(config),
                        MLP(width, config.intermediate_size, config.hidden_act))


class VisionEncoder(nn.Module):
    """ViT image encoder: pixels (B, 3, 224, 224) -> normalised features (B, 1 + patches, D)."""

    def __init__(self, config: Blip2VisionConfig):
        super().__init__()
        self.config = config
        self.embeddings = VisionEmbeddings(config)
        self.pre_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.encoder = LayerStack([vision_layer(config) for _ in range(config.num_hidden_layers)])
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = self.pre_layernorm(self.embeddings(pixel_values))
        return self.post_layernorm(self.encoder(hidden))
