"""Prompt-to-prompt attention control through diffusers attention processors.

Hertz et al., "Prompt-to-Prompt Image Editing with Cross Attention Control" (arXiv 2208.01626):
the source and the target image are denoised side by side; for the first steps the target takes
the source's cross-attention for the tokens the two prompts share (Sec. 3.2, "refinement") and the
source's self-attention in the coarse layers, and a local-blend mask from the source class word's
cross-attention keeps the target equal to the source outside the edited object.

Every UNet batch of an edit ends with the source and the target conditional rows; rows before them
(unconditional rows for classifier-free guidance) are left alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import UNet2DConditionModel
from diffusers.models.attention_processor import Attention

from blip_diffusion.errors import InputError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AttentionEditConfig:
    """How strongly the target follows the source (defaults: BLIP-Diffusion's editing settings)."""

    # For this first fraction of the steps, shared tokens take the source's cross-attention ...
    cross_replace_fraction: float = 0.8
    # ... and the target takes the source's self-attention, in layers whose maps are at least
    # ``self_replace_downsample`` times smaller than the latents (16x16 at 512x512).
    self_replace_fraction: float = 0.4
    self_replace_downsample: int = 4
    # Local blend: the target may differ from the source only where the source class word's
    # attention, normalised to a maximum of 1, exceeds the threshold (None: no blend). The maps
    # are those ``blend_downsample`` times smaller than the latents (16x16 at 512x512).
    blend_threshold: float | None = 0.3
    blend_downsample: int = 4

    def validate(self) -> None:
        for name in ("cross_replace_fraction", "self_replace_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InputError(f"{name} must be a fraction of the steps in [0, 1], got {value}")
        for name in ("self_replace_downsample", "blend_downsample"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise InputError(f"{name} must be a power of two (1, 2, 4, 8, ...), got {value}")
        if self.blend_threshold is not None and self.blend_threshold < 0:
            raise InputError(f"blend_threshold must be >= 0 (None: no blend), got {self.blend_threshold}")


@dataclass(frozen=True)
class TokenMap:
    """Which source token each target token copies its cross-attention from.

    source_index: (L,) source position for every target position; aligned: (L,) 1.0 where the
    target token is shared with the source (its attention is replaced), 0.0 where it is new (the
    subject's vectors, a changed class word); blend_tokens: (K,) source positions of the class word.
    """

    source_index: torch.Tensor
    aligned: torch.Tensor
    blend_tokens: torch.Tensor


def map_shape(latent_shape: tuple[int, int], downsample: int) -> tuple[int, int]:
    """Attention-map size after the UNet halves ``latent_shape`` log2(downsample) times (rounding up)."""
    height, width = latent_shape
    for _ in range(int(math.log2(downsample))):
        height, width = -(-height // 2), -(-width // 2)
    return height, width


class AttentionEditor:
    """The state one edit shares with its attention processors: the step, the edits, the blend maps."""

    def __init__(
        self, config: AttentionEditConfig, tokens: TokenMap, num_steps: int, latent_shape: tuple[int, int],
    ):
        self.config = config
        self.tokens = tokens
        self.step = 0
        self.cross_steps = int(config.cross_replace_fraction * num_steps)
        self.self_steps = int(config.self_replace_fraction * num_steps)
        self.self_max_pixels = math.prod(map_shape(latent_shape, config.self_replace_downsample))
        self.latent_shape = latent_shape
        self.blend_shape = map_shape(latent_shape, config.blend_downsample)
        self.blend_sum: torch.Tensor | None = None  # (h * w,): class-word attention, all layers and steps
        self.cross_pixels: set[int] = set()

    def wants(self, is_cross: bool, pixels: int) -> bool:
        """Whether a layer with ``pixels`` query positions needs its attention probabilities now."""
        return is_cross or (self.step < self.self_steps and pixels <= self.self_max_pixels)

    def edit(self, probs: torch.Tensor, is_cross: bool) -> torch.Tensor:
        """probs (B, heads, N, M) -> the same, the target (last row) edited from the source (second last)."""
        source, target = probs[-2], probs[-1]
        if is_cross:
            self._record(source)
            if self.step >= self.cross_steps:
                return probs
            aligned = self.tokens.aligned.to(probs)
            shared = source[..., self.tokens.source_index.to(probs.device)]
            target = shared * aligned + target * (1 - aligned)
        else:
            target = source
        return torch.cat([probs[:-1], target[None]])

    def _record(self, source: torch.Tensor) -> None:
        pixels = source.shape[1]
        self.cross_pixels.add(pixels)
        if self.config.blend_threshold is None or pixels != math.prod(self.blend_shape):
            return
        # (N,): the class word's tokens summed, the heads averaged
        class_map = source[..., self.tokens.blend_tokens.to(source.device)].sum(-1).mean(0).float()
        self.blend_sum = class_map if self.blend_sum is None else self.blend_sum + class_map

    def mask(self) -> torch.Tensor | None:
        """(1, 1, h, w) 0/1 local-blend mask at latent resolution from the maps so far; None without blend."""
        if self.config.blend_threshold is None:
            return None
        if self.blend_sum is None:
            sizes = ", ".join(str(self._downsample_of(p)) for p in sorted(self.cross_pixels, reverse=True))
            height, width = self.blend_shape
            raise InputError(f"blend_downsample={self.config.blend_downsample}: no cross-attention layer of "
                             f"this UNet has {height}x{width} maps at this image size; try one of: {sizes}")
        maps = self.blend_sum.reshape(1, 1, *self.blend_shape)
        maps = F.max_pool2d(maps, kernel_size=3, stride=1, padding=1)  # one map pixel wider around the object
        maps = F.interpolate(maps, size=self.latent_shape, mode="nearest")
        maps = maps / maps.max().clamp_min(torch.finfo(maps.dtype).tiny)
        return (maps > self.config.blend_threshold).float()

    def _downsample_of(self, pixels: int) -> int:
        downsample = 1
        while math.prod(map_shape(self.latent_shape, downsample)) > pixels:
            downsample *= 2
        return downsample

    def blend(self, latents: torch.Tensor) -> torch.Tensor:
        """latents (2, C, h, w) [source, target] -> target kept equal to the source outside the mask."""
        mask = self.mask()
        if mask is None:
            return latents
        return torch.cat([latents[:1], torch.where(mask.bool(), latents[1:], latents[:1])])


class EditingAttnProcessor:
    """Computes attention explicitly where the editor changes it; elsewhere the layer's own processor runs."""

    def __init__(self, editor: AttentionEditor, original: object):
        self.editor = editor
        self.original = original

    def __call__(
        self, attn: Attention, hidden_states: torch.Tensor, encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None, temb: torch.Tensor | None = None, **kwargs: object,
    ) -> torch.Tensor:
        """hidden_states (B, N, C), encoder_hidden_states (B, M, D) or None -> (B, N, C)."""
        is_cross = encoder_hidden_states is not None
        spatial = hidden_states.ndim != 3 or attn.group_norm is not None or attn.spatial_norm is not None
        if spatial or not self.editor.wants(is_cross, hidden_states.shape[1]):
            return self.original(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)
        context = hidden_states if not is_cross else encoder_hidden_states
        if is_cross and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        batch = hidden_states.shape[0]
        mask = attn.prepare_attention_mask(attention_mask, context.shape[1], batch)
        query = attn.head_to_batch_dim(attn.to_q(hidden_states))  # (B * heads, N, C / heads)
        key = attn.head_to_batch_dim(attn.to_k(context))
        value = attn.head_to_batch_dim(attn.to_v(context))
        probs = attn.get_attention_scores(query, key, mask)  # (B * heads, N, M)
        probs = self.editor.edit(probs.unflatten(0, (batch, attn.heads)), is_cross).flatten(0, 1)
        out = attn.to_out[1](attn.to_out[0](attn.batch_to_head_dim(torch.bmm(probs, value))))
        if attn.residual_connection:
            out = out + hidden_states
        return out / attn.rescale_output_factor


@contextmanager
def attention_editing(unet: UNet2DConditionModel, editor: AttentionEditor) -> Iterator[None]:
    """Route every attention layer of ``unet`` through ``editor``; the original processors come back after."""
    original = unet.attn_processors
    unet.set_attn_processor({name: EditingAttnProcessor(editor, p) for name, p in original.items()})
    try:
        yield
    finally:
        unet.set_attn_processor(dict(original))
        logger.debug("restored %d attention processors", len(original))
