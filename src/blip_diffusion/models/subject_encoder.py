"""Subject encoder: reference image + subject class word -> subject embeddings in CLIP text space.

Image encoder (frozen ViT) -> Q-Former (16 queries read the image together with the class word)
-> projection. Stored as the ``qformer`` component of the official layout, whose weights sit at the
top level: ``embeddings``, ``encoder``, ``query_tokens``, ``visual_encoder``, ``proj_layer``.
"""

from __future__ import annotations

import torch
from transformers import Blip2Config

from blip_diffusion.models.projection import SubjectProjection
from blip_diffusion.models.qformer import QFormer
from blip_diffusion.models.vision import VisionEncoder


class SubjectEncoder(QFormer):
    def __init__(self, config: Blip2Config):
        super().__init__(config.qformer_config, config.num_query_tokens)
        self.config = config
        width = config.qformer_config.hidden_size
        self.visual_encoder = VisionEncoder(config.vision_config)
        self.proj_layer = SubjectProjection(width, 4 * width, width)

    @property
    def dtype(self) -> torch.dtype:
        return self.query_tokens.dtype

    @property
    def device(self) -> torch.device:
        return self.query_tokens.device

    def forward(self, pixel_values: torch.Tensor, input_ids: torch.Tensor,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """pixel_values (B, 3, 224, 224), class-word tokens (B, T) -> subject embeddings (B, Q, D)."""
        image_embeds = self.visual_encoder(pixel_values.to(self.dtype))
        hidden = self.run(image_embeds, input_ids, attention_mask)
        return self.proj_layer(hidden[:, : self.num_query_tokens])
