"""Conversion of a LAVIS BLIP-Diffusion checkpoint folder to the official Hub layout.

A LAVIS folder holds ``blip_model/blip_weight.pt`` (the BLIP-2 Q-Former model: CLIP ViT in
OpenAI naming, ``ln_vision``, ``Qformer.bert.*``, ``query_tokens`` and stage-1 heads),
``proj_layer/proj_weight.pt`` and diffusers/transformers folders ``unet/``, ``vae/``,
``text_encoder/``. Pickles are read with ``weights_only=True``. The architecture configs,
tokenizers and scheduler come from a model folder in our layout (``config_from``).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from blip_diffusion.errors import InputError

# Stage-1 training heads in blip_weight.pt that generation does not use.
DROPPED_PREFIXES = ("Qformer.cls.", "vision_proj.", "text_proj.", "itm_head.", "temp")

# (LAVIS pattern, our name); applied in order, first match wins.
RENAMES = [
    (r"^query_tokens$", "query_tokens"),
    (r"^ln_vision\.", "visual_encoder.post_layernorm."),
    (r"^visual_encoder\.class_embedding$", "visual_encoder.embeddings.class_embedding"),
    (r"^visual_encoder\.positional_embedding$", "visual_encoder.embeddings.position_embedding"),
    (r"^visual_encoder\.conv1\.", "visual_encoder.embeddings.patch_embedding."),
    (r"^visual_encoder\.ln_pre\.", "visual_encoder.pre_layernorm."),
    (r"^visual_encoder\.transformer\.resblocks\.(\d+)\.ln_1\.", r"visual_encoder.encoder.layers.\1.layer_norm1."),
    (r"^visual_encoder\.transformer\.resblocks\.(\d+)\.ln_2\.", r"visual_encoder.encoder.layers.\1.layer_norm2."),
    (r"^visual_encoder\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$",
     r"visual_encoder.encoder.layers.\1.self_attn.qkv.\2"),
    (r"^visual_encoder\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.",
     r"visual_encoder.encoder.layers.\1.self_attn.projection."),
    (r"^visual_encoder\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.", r"visual_encoder.encoder.layers.\1.mlp.fc1."),
    (r"^visual_encoder\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.", r"visual_encoder.encoder.layers.\1.mlp.fc2."),
    (r"^Qformer\.bert\.encoder\.layer\.(\d+)\.(attention|crossattention)\.self\.", r"encoder.layer.\1.\2.attention."),
    (r"^Qformer\.bert\.", ""),
]


def _rename(key: str) -> str | None:
    if key.startswith(DROPPED_PREFIXES):
        return None
    for pattern, replacement in RENAMES:
        if re.search(pattern, key):
            return re.sub(pattern, replacement, key)
    raise InputError(f"unknown key in LAVIS blip_weight.pt: {key}")


def _load_pickle(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise InputError(f"not a LAVIS BLIP-Diffusion checkpoint: {path} is missing")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a corrupt pickle or one needing code execution raises many types
        raise InputError(f"cannot read {path} safely (weights_only): {error}") from error


def subject_encoder_state(lavis_dir: Path) -> dict[str, torch.Tensor]:
    """The ``qformer`` component's state dict from ``blip_model/`` and ``proj_layer/``."""
    state: dict[str, torch.Tensor] = {}
    for key, value in _load_pickle(lavis_dir / "blip_model" / "blip_weight.pt").items():
        name = _rename(key)
        if name is None:
            continue
        if name == "visual_encoder.embeddings.class_embedding":
            value = value.reshape(1, 1, -1)
        elif name == "visual_encoder.embeddings.position_embedding":
            value = value.reshape(1, *value.shape[-2:])
        state[name] = value
    for key, value in _load_pickle(lavis_dir / "proj_layer" / "proj_weight.pt").items():
        state[f"proj_layer.{key}"] = value
    return state
