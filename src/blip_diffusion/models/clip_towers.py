"""The towers of a CLIP checkpoint (transformers ``CLIPModel`` / ``CLIPVisionModel`` layout) as this
project's modules.

BLIP-Diffusion's image encoder is CLIP ViT-L/14 with its last layer dropped and a fresh LayerNorm
("ln_vision") on top, stored in BLIP-2's vision layout (fused qkv, ``pre_layernorm``,
``post_layernorm``); its text encoder is a CLIP text tower, whose weight names ours already share.
The same conversion serves the toy CLIP this project trains and the real ViT-L/14.
"""

from __future__ import annotations

import torch
from transformers import Blip2VisionConfig, CLIPVisionConfig

VISION_PREFIX = "vision_model."


def blip2_vision_config(clip: CLIPVisionConfig, drop_last_layers: int) -> Blip2VisionConfig:
    """The BLIP-2 vision config of ``clip``'s vision tower less its last ``drop_last_layers`` layers."""
    if not 0 <= drop_last_layers < clip.num_hidden_layers:
        raise ValueError(f"drop_last_layers={drop_last_layers}; the tower has {clip.num_hidden_layers} layers")
    return Blip2VisionConfig(
        hidden_size=clip.hidden_size, intermediate_size=clip.intermediate_size,
        num_hidden_layers=clip.num_hidden_layers - drop_last_layers, num_attention_heads=clip.num_attention_heads,
        image_size=clip.image_size, patch_size=clip.patch_size, hidden_act=clip.hidden_act,
        layer_norm_eps=clip.layer_norm_eps, qkv_bias=True, attention_dropout=0.0,
    )


def vision_state_from_clip(state: dict[str, torch.Tensor], config: Blip2VisionConfig,
                           keep_post_layernorm: bool) -> dict[str, torch.Tensor]:
    """CLIP vision weights (keys under ``vision_model.``) -> :class:`VisionEncoder` weights.

    Layers beyond ``config.num_hidden_layers`` are dropped. The final LayerNorm is CLIP's own when
    ``keep_post_layernorm`` (all layers kept), else a fresh identity LayerNorm (BLIP-2's ln_vision).
    """
    clip = {k[len(VISION_PREFIX):]: v for k, v in state.items() if k.startswith(VISION_PREFIX)}
    width = config.hidden_size
    out = {
        "embeddings.class_embedding": clip["embeddings.class_embedding"].reshape(1, 1, width),
        "embeddings.patch_embedding.weight": clip["embeddings.patch_embedding.weight"],
        "embeddings.position_embedding": clip["embeddings.position_embedding.weight"][None],
        "pre_layernorm.weight": clip["pre_layrnorm.weight"],
        "pre_layernorm.bias": clip["pre_layrnorm.bias"],
    }
    for i in range(config.num_hidden_layers):
        src, dst = f"encoder.layers.{i}.", f"encoder.layers.{i}."
        for part in ("weight", "bias"):
            out[dst + f"self_attn.qkv.{part}"] = torch.cat(
                [clip[src + f"self_attn.{p}_proj.{part}"] for p in ("q", "k", "v")], dim=0)
            out[dst + f"self_attn.projection.{part}"] = clip[src + f"self_attn.out_proj.{part}"]
            for name in ("layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"):
                out[dst + f"{name}.{part}"] = clip[src + f"{name}.{part}"]
    if keep_post_layernorm:
        out["post_layernorm.weight"] = clip["post_layernorm.weight"]
        out["post_layernorm.bias"] = clip["post_layernorm.bias"]
    else:
        out["post_layernorm.weight"] = torch.ones(width)
        out["post_layernorm.bias"] = torch.zeros(width)
    return {k: v.clone().contiguous() for k, v in out.items()}


def text_state_from_clip(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """CLIP text weights (keys under ``text_model.``, as in ``CLIPModel``) -> :class:`ContextCLIPTextModel`
    weights: the same names, other towers and the position-id buffer left out."""
    return {k: v.clone() for k, v in state.items() if k.startswith("text_model.") and not k.endswith("position_ids")}
