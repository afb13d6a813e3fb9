"""Building the subject encoder (image encoder + Q-Former + projection) for training.

The image encoder comes from a CLIP checkpoint (the toy base model's ``clip/`` or CLIP ViT-L/14),
its last layers dropped as in BLIP-2; the Q-Former starts from scratch (BERT's initialisation) or
from a BERT checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from transformers import BertModel, Blip2Config, Blip2QFormerConfig, CLIPVisionConfig

from blip_diffusion.errors import InputError
from blip_diffusion.models.bert_init import bert_to_qformer
from blip_diffusion.models.clip_towers import VISION_PREFIX, blip2_vision_config, vision_state_from_clip
from blip_diffusion.models.loading import read_state_dict
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines.model_folder import read_json


def read_clip_vision(folder: Path) -> tuple[CLIPVisionConfig, dict[str, torch.Tensor]]:
    """Vision config and weights (keys under ``vision_model.``) of a ``CLIPModel`` or ``CLIPVisionModel`` folder."""
    config = read_json(Path(folder) / "config.json")
    vision = config.get("vision_config", config)
    state = read_state_dict(Path(folder))
    if not any(k.startswith(VISION_PREFIX) for k in state):  # transformers 5 saves a CLIPVisionModel unprefixed
        state = {VISION_PREFIX + k: v for k, v in state.items()}
    return CLIPVisionConfig.from_dict(vision), state


def init_bert_style(module: nn.Module, std: float = 0.02) -> None:
    """BERT's initialisation: normal(0, std) weights, zero biases, identity LayerNorms."""
    for child in module.modules():
        if isinstance(child, (nn.Linear, nn.Embedding)):
            nn.init.normal_(child.weight, std=std)
            if isinstance(child, nn.Linear) and child.bias is not None:
                nn.init.zeros_(child.bias)
        elif isinstance(child, nn.LayerNorm):
            nn.init.ones_(child.weight)
            nn.init.zeros_(child.bias)


def fresh_qformer(encoder: SubjectEncoder, std: float = 0.02) -> None:
    """Re-initialise everything but the image encoder: Q-Former, queries and projection."""
    for name in ("embeddings", "encoder", "proj_layer"):
        init_bert_style(getattr(encoder, name), std)
    nn.init.normal_(encoder.query_tokens, std=std)


def build_subject_encoder(clip_folder: Path, qformer: Blip2QFormerConfig, num_query_tokens: int,
                          drop_last_layers: int, bert_folder: str = "") -> SubjectEncoder:
    """A subject encoder with CLIP's vision tower (less ``drop_last_layers``) and a fresh or BERT Q-Former."""
    clip_config, clip_state = read_clip_vision(clip_folder)
    vision = blip2_vision_config(clip_config, drop_last_layers)
    if qformer.encoder_hidden_size != vision.hidden_size:
        raise InputError(f"qformer.encoder_hidden_size {qformer.encoder_hidden_size} must equal the image "
                         f"encoder's width {vision.hidden_size}")
    config = Blip2Config(vision_config=vision.to_dict(), qformer_config=qformer.to_dict(),
                         num_query_tokens=num_query_tokens)
    encoder = SubjectEncoder(config)
    fresh_qformer(encoder)
    encoder.visual_encoder.load_state_dict(vision_state_from_clip(clip_state, vision, drop_last_layers == 0),
                                           strict=True)
    if bert_folder:
        bert = BertModel.from_pretrained(bert_folder).state_dict()
        qformer_state = bert_to_qformer(bert, encoder)
        encoder.load_state_dict({**encoder.state_dict(), **qformer_state}, strict=True)
    return encoder


def image_features(encoder: SubjectEncoder, pixels: torch.Tensor, train_ln_vision: bool) -> torch.Tensor:
    """pixels (B, 3, S, S) -> image features (B, N, Dv): the frozen tower without a graph; the final
    LayerNorm (BLIP-2's ln_vision) with one when it is trained."""
    vision = encoder.visual_encoder
    with torch.no_grad():
        hidden = vision.encoder(vision.pre_layernorm(vision.embeddings(pixels.to(encoder.dtype))))
    with torch.set_grad_enabled(train_ln_vision and torch.is_grad_enabled()):
        return vision.post_layernorm(hidden)


class SubjectModel(nn.Module):
    """The trainable view of a subject encoder for stage 2: frozen image tower, trained Q-Former and projection."""

    def __init__(self, encoder: SubjectEncoder):
        super().__init__()
        self.encoder = encoder
        encoder.visual_encoder.requires_grad_(False)

    def forward(self, pixels: torch.Tensor | None = None, input_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        """pixels (B, 3, S, S) or the frozen tower's ``features`` of them (B, N, Dv, as ``image_features``
        gives them), optional class-word ids and mask (B, T) -> subject embeddings (B, Q, D)."""
        encoder = self.encoder
        if (pixels is None) == (features is None):
            raise ValueError("SubjectModel takes either pixels or features")
        images = image_features(encoder, pixels, train_ln_vision=False) if features is None else features.to(encoder.dtype)
        hidden = encoder.run(images, input_ids, attention_mask)
        return encoder.proj_layer(hidden[:, : encoder.num_query_tokens])
