"""DDIM inversion of a real image's latents and null-text optimisation.

DDIM inversion (Song et al., arXiv 2010.02502, Sec. 4.3; Dhariwal & Nichol, arXiv 2105.05233,
App. F) runs the deterministic DDIM update backwards, from the image's latents z_0 to noise z_T,
approximating eps(z_t, t) by eps(z_{t-1}, t). With guidance 1 sampling DDIM from z_T retraces the
path closely. Sampling with classifier-free guidance w > 1 drifts away from it; null-text
optimisation (Mokady et al., arXiv 2211.09794, Alg. 1) fits one unconditional embedding per step
so that the guided sampler lands on the inversion path again.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDIMInverseScheduler, DDIMScheduler, UNet2DConditionModel

logger = logging.getLogger(__name__)


@dataclass
class Inversion:
    """A real image inverted into the sampler's noise.

    image_latents: (1, C, h, w) the VAE's latents of the image (scaled), z_0;
    trajectory: num_steps + 1 tensors (1, C, h, w), z_0 ... z_T along the inversion;
    null_embeds: one unconditional text embedding (1, L, D) per sampling step from null-text
    optimisation, in sampling order (z_T first); None without it.
    """

    image_latents: torch.Tensor
    trajectory: list[torch.Tensor]
    null_embeds: list[torch.Tensor] | None = None

    @property
    def noise_latents(self) -> torch.Tensor:
        """(1, C, h, w): z_T, where sampling starts."""
        return self.trajectory[-1]


def ddim_schedulers(
    config: dict, num_steps: int, device: torch.device,
) -> tuple[DDIMScheduler, DDIMInverseScheduler]:
    """A DDIM sampler and its inverse on the model's noise schedule, with ``num_steps`` timesteps each."""
    # Clipping the predicted z_0 cannot be undone: neither direction clips, so sampling inverts the inversion.
    sampler = DDIMScheduler.from_config(config, clip_sample=False)
    inverse = DDIMInverseScheduler.from_config(config, clip_sample=False)
    for scheduler in (sampler, inverse):
        scheduler.set_timesteps(num_steps, device=device)
    return sampler, inverse


@torch.no_grad()
def ddim_invert(
    unet: UNet2DConditionModel, inverse: DDIMInverseScheduler, image_latents: torch.Tensor,
    cond: torch.Tensor,
) -> list[torch.Tensor]:
    """image_latents (1, C, h, w) -> [z_0, ..., z_T] with the conditional prediction only (guidance 1)."""
    latents, trajectory = image_latents, [image_latents]
    for t in inverse.timesteps:
        noise = unet(inverse.scale_model_input(latents, t), t, encoder_hidden_states=cond).sample
        latents = inverse.step(noise, t, latents).prev_sample
        trajectory.append(latents)
    return trajectory


@torch.no_grad()
def ddim_reconstruct(
    unet: UNet2DConditionModel, sampler: DDIMScheduler, inversion: Inversion, cond: torch.Tensor,
    uncond: torch.Tensor | list[torch.Tensor], guidance_scale: float,
) -> torch.Tensor:
    """Guided DDIM sampling from the inversion's noise -> latents (1, C, h, w), to compare with z_0.

    ``cond``: the inversion's text conditioning (1, L, D); ``uncond``: (1, L, D), or one per step
    (null-text embeddings).
    """
    latents = inversion.noise_latents
    for i, t in enumerate(sampler.timesteps):
        cond_noise = unet(sampler.scale_model_input(latents, t), t, encoder_hidden_states=cond).sample
        null = uncond[i] if isinstance(uncond, list) else uncond
        latents = _guided_step(unet, sampler, t, latents, cond_noise, null, guidance_scale)
    return latents


def optimise_null_text(
    unet: UNet2DConditionModel, sampler: DDIMScheduler, trajectory: list[torch.Tensor], cond: torch.Tensor,
    uncond: torch.Tensor, guidance_scale: float, inner_steps: int = 10, learning_rate: float = 1e-2,
    tolerance: float = 1e-5,
) -> list[torch.Tensor]:
    """One unconditional embedding (1, L, D) per sampling step, starting from ``uncond`` (1, L, D).

    At each step the embedding is fitted with Adam (``inner_steps`` at most, stopping once the
    squared error falls below ``tolerance``) so that one guided DDIM step from the current latents
    lands on the inversion's next latents; the next step starts from the fitted embedding.
    """
    # Fitted in float32 whatever the model's precision: Adam's small steps vanish in float16.
    latents, null, nulls = trajectory[-1], uncond.detach().float(), []
    for i, t in enumerate(sampler.timesteps):
        with torch.no_grad():
            cond_noise = unet(sampler.scale_model_input(latents, t), t, encoder_hidden_states=cond).sample
        step = functools.partial(_guided_step, unet, sampler, t, latents, cond_noise,
                                 guidance_scale=guidance_scale)
        null = _fit_null(step, null, trajectory[-2 - i], inner_steps, learning_rate, tolerance)
        with torch.no_grad():
            latents = step(null)
        nulls.append(null.to(uncond.dtype))
    logger.debug("null-text: final squared error %.3g", F.mse_loss(latents, trajectory[0]).item())
    return nulls


def _guided_step(
    unet: UNet2DConditionModel, sampler: DDIMScheduler, t: torch.Tensor, latents: torch.Tensor,
    cond_noise: torch.Tensor, null: torch.Tensor, guidance_scale: float,
) -> torch.Tensor:
    """One guided DDIM step from latents (1, C, h, w) with the unconditional embedding ``null`` (1, L, D)."""
    model_input = sampler.scale_model_input(latents, t)
    uncond_noise = unet(model_input, t, encoder_hidden_states=null.to(cond_noise.dtype)).sample
    noise = uncond_noise + guidance_scale * (cond_noise - uncond_noise)
    return sampler.step(noise, t, latents).prev_sample


def _fit_null(
    step: Callable[[torch.Tensor], torch.Tensor], null: torch.Tensor, goal: torch.Tensor, inner_steps: int,
    learning_rate: float, tolerance: float,
) -> torch.Tensor:
    """The embedding (1, L, D) for which ``step(null)`` comes closest to ``goal``, fitted with Adam."""
    null = null.detach().clone().requires_grad_(True)
    optimiser = torch.optim.Adam([null], lr=learning_rate)
    for _ in range(inner_steps):
        with torch.enable_grad():
            loss = F.mse_loss(step(null), goal)
            if loss.item() < tolerance:
                break
            # Only the embedding's gradient: the model's parameters get no .grad.
            (null.grad,) = torch.autograd.grad(loss, [null])
        optimiser.step()
    return null.detach()
