"""A global path for the prompt into the UNet: its text states, subject embeddings included, pooled by
attention and added to the timestep embedding, so that every ResNet block sees the subject and not
only the cross-attention layers. This is diffusers' ``addition_embed_type="text"`` (DeepFloyd IF's
pooling); the UNet computes it from ``encoder_hidden_states``, so the pipelines need nothing new.
"""

from __future__ import annotations

import torch
from diffusers import UNet2DConditionModel

from blip_diffusion.errors import InputError

POOLING_HEADS = 8


def pooled_text_settings(text_width: int) -> dict:
    """The UNet config entries that add the pooled-text embedding, for text states ``text_width`` wide."""
    if text_width % POOLING_HEADS:
        raise InputError(f"pooled_text_embedding: the text width {text_width} is not a multiple "
                         f"of the {POOLING_HEADS} pooling heads")
    return {"addition_embed_type": "text", "addition_embed_type_num_heads": POOLING_HEADS}


def with_pooled_text_embedding(unet: UNet2DConditionModel) -> UNet2DConditionModel:
    """``unet`` with a pooled-text embedding whose output starts at zero (its last LayerNorm's scale and
    shift are zeroed, as ControlNet zeroes its new convolutions), so that the result predicts exactly what
    ``unet`` does until training moves it. A UNet that already has one is returned as it is."""
    config = unet.config
    if config.addition_embed_type == "text":
        return unet
    if config.addition_embed_type is not None:
        raise InputError(f"pooled_text_embedding: the UNet already adds {config.addition_embed_type!r} embeddings")
    added = pooled_text_settings(config.cross_attention_dim)
    settings = {key: value for key, value in config.items() if not key.startswith("_")}  # "_use_default_values"
    pooled = UNet2DConditionModel.from_config({**settings, **added})  # would reset options left at their defaults
    missing, unexpected = pooled.load_state_dict(unet.state_dict(), strict=False)
    if unexpected or any(not key.startswith("add_embedding.") for key in missing):
        raise RuntimeError(f"pooled-text UNet does not match: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        pooled.add_embedding.norm2.weight.zero_()
        pooled.add_embedding.norm2.bias.zero_()
    return pooled.to(unet.device, unet.dtype).train(unet.training)
