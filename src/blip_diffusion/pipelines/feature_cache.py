"""Feature caching across denoising steps (DeepCache, Ma et al. 2024): an opt-in approximate speed-up.

A UNet's deep levels change little from one denoising step to the next, while its top level (the
first down block and the last up block, at full latent resolution) carries the detail. Every
``interval`` steps the whole UNet runs and the input of its last up block, everything the deeper
levels contribute, is kept; the steps in between run only the top level and reuse it. Outputs are
no longer exact: ``docs/performance.md`` measures what it costs on ToyBench and as PSNR.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import UNet2DConditionModel

from blip_diffusion.errors import InputError

Tensors = tuple[torch.Tensor, ...]

# UNet options the cached passes do not implement (SD1.5 and the toy UNets use none of them), but for the
# pooled-text embedding that the base UNet and stage 2 can have (training.pooled_text).
UNSUPPORTED = ("class_embed_type", "addition_embed_type", "encoder_hid_dim_type", "time_embedding_act_fn")
IMPLEMENTED = {"addition_embed_type": "text"}


class FeatureCache:
    """Runs a UNet2DConditionModel in full every ``interval`` calls and its top level in between.

    Call :meth:`reset` before each denoising loop; each call is one step. The first call after a
    reset always runs the full UNet.
    """

    def __init__(self, unet: UNet2DConditionModel, interval: int):
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 1:
            raise InputError(f"feature cache interval must be an integer of at least 1, got {interval!r}")
        used = [key for key in UNSUPPORTED if unet.config.get(key) not in (None, IMPLEMENTED.get(key))]
        if used or unet.config.center_input_sample or len(unet.up_blocks) < 2:
            raise InputError(f"feature caching supports SD1.5-style UNets; this one sets {', '.join(used) or 'other options'}")
        self.unet, self.interval = unet, interval
        self._full: Callable = self.full_pass
        self._top: Callable = self.top_pass
        self._deep: torch.Tensor | None = None
        self._step = 0

    def compile(self, mode: str | None, backend: str) -> None:
        """Compile both passes (the pipeline's ``compile`` calls this when the cache is on)."""
        self._full = torch.compile(self.full_pass, mode=mode, backend=backend)
        self._top = torch.compile(self.top_pass, mode=mode, backend=backend)

    def reset(self) -> None:
        self._deep, self._step = None, 0

    def __call__(self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 down_block_additional_residuals: Tensors | None = None,
                 mid_block_additional_residual: torch.Tensor | None = None) -> torch.Tensor:
        """The noise prediction for this step: the UNet's output, exact on full steps."""
        if self._step % self.interval == 0 or self._deep is None:
            weights = next(self.unet.parameters())  # checked on full steps only: the first call is one
            if weights.device != sample.device:
                raise InputError(f"feature caching runs the UNet's blocks directly and needs its weights on "
                                 f"{sample.device} (they are on {weights.device}): it does not combine with model "
                                 f"CPU offload")
            noise, deep = self._full(sample, timestep, encoder_hidden_states, down_block_additional_residuals,
                                     mid_block_additional_residual)
            self._deep = deep.clone()  # a compiled pass may reuse its output buffers at its next call
        else:
            noise = self._top(sample, timestep, encoder_hidden_states, self._deep, down_block_additional_residuals)
        self._step += 1
        return noise

    def full_pass(self, sample: torch.Tensor, timestep: torch.Tensor, states: torch.Tensor,
                  down_residuals: Tensors | None = None, mid_residual: torch.Tensor | None = None,
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """The UNet's forward (as diffusers computes it) and the input of its last up block."""
        unet = self.unet
        emb = self._embed(sample, timestep, states)
        hidden = unet.conv_in(sample)
        skips: Tensors = (hidden,)
        for block in unet.down_blocks:
            hidden, res = _run(block, states, hidden_states=hidden, temb=emb)
            skips += res
        if down_residuals is not None:
            skips = tuple(s + r for s, r in zip(skips, down_residuals))
        if unet.mid_block is not None:
            hidden = _run(unet.mid_block, states, hidden_states=hidden, temb=emb)
        if mid_residual is not None:
            hidden = hidden + mid_residual
        # diffusers passes explicit upsampling sizes only when the latent size is not a multiple of them
        explicit_sizes = any(d % 2 ** unet.num_upsamplers for d in sample.shape[-2:])
        for block in unet.up_blocks[:-1]:
            res, skips = skips[-len(block.resnets):], skips[:-len(block.resnets)]
            size = skips[-1].shape[2:] if explicit_sizes else None
            hidden = _run(block, states, hidden_states=hidden, temb=emb, res_hidden_states_tuple=res,
                          upsample_size=size)
        return self._top_up(hidden, skips, emb, states), hidden

    def top_pass(self, sample: torch.Tensor, timestep: torch.Tensor, states: torch.Tensor, deep: torch.Tensor,
                 down_residuals: Tensors | None = None) -> torch.Tensor:
        """The top level only, on the deep levels' kept contribution ``deep``."""
        unet = self.unet
        emb = self._embed(sample, timestep, states)
        hidden = unet.conv_in(sample)
        _, res = _run(unet.down_blocks[0], states, hidden_states=hidden, temb=emb)
        skips = (hidden, *res)[:len(unet.up_blocks[-1].resnets)]  # the first block's downsampled output feeds deeper
        if down_residuals is not None:
            skips = tuple(s + r for s, r in zip(skips, down_residuals))
        return self._top_up(deep, skips, emb, states)

    def _embed(self, sample: torch.Tensor, timestep: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        emb = self.unet.time_embedding(self.unet.get_time_embed(sample=sample, timestep=timestep), None)
        added = self.unet.get_aug_embed(emb=emb, encoder_hidden_states=states, added_cond_kwargs={})
        return emb if added is None else emb + added

    def _top_up(self, hidden: torch.Tensor, skips: Tensors, emb: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
        unet = self.unet
        hidden = _run(unet.up_blocks[-1], states, hidden_states=hidden, temb=emb, res_hidden_states_tuple=skips)
        if unet.conv_norm_out is not None:
            hidden = unet.conv_act(unet.conv_norm_out(hidden))
        return unet.conv_out(hidden)


def _run(block: torch.nn.Module, states: torch.Tensor, **kwargs: object):
    if getattr(block, "has_cross_attention", False):
        kwargs["encoder_hidden_states"] = states
    return block(**kwargs)
