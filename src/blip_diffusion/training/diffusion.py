"""The denoising objective shared by the base UNet, stage 2 and subject fine-tuning.

Stable Diffusion's recipe: latents ``z0 = scaling_factor * VAE(x).sample()``, a uniform timestep
``t``, ``z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps`` (DDPM, scaled_linear betas 0.00085..0.012,
1000 steps) and the epsilon-prediction MSE ``|eps - unet(z_t, t, c)|^2``; or, where the noise
settings say ``prediction_type = "v_prediction"``, the velocity ``v = sqrt(abar_t) eps - sqrt(1 - abar_t) z0``
as the target (arXiv 2202.00512): in terms of the clean latents it weighs a timestep's error by SNR + 1
where the noise target weighs it by the SNR, so the noisy timesteps, where a picture's layout is
decided, count several times more against the nearly clean ones.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, DDPMScheduler, PNDMScheduler, UNet2DConditionModel
from diffusers.training_utils import compute_snr

TRAIN_NOISE = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear",
               "num_train_timesteps": 1000, "prediction_type": "epsilon"}
PREDICTION_TYPES = ("epsilon", "v_prediction")


def training_scheduler(config: dict | None = None) -> DDPMScheduler:
    """The training noise schedule: a model folder's scheduler settings if given, else SD1.5's."""
    keys = set(TRAIN_NOISE)
    settings = {**TRAIN_NOISE, **{k: v for k, v in (config or {}).items() if k in keys}}
    return DDPMScheduler(**settings)


def inference_scheduler(prediction_type: str = "epsilon") -> PNDMScheduler:
    """The default sampler saved with trained models: PNDM as in the original, SD1.5 noise settings."""
    return PNDMScheduler(**{**TRAIN_NOISE, "prediction_type": prediction_type}, skip_prk_steps=True,
                         set_alpha_to_one=False, steps_offset=1)


@torch.no_grad()
def latent_means(vae: AutoencoderKL, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (B, 3, H, W) in [-1, 1] -> scaled posterior means (B, C, H/f, W/f), float32 on the CPU: the
    latents that training caches for a frozen VAE (the posterior's spread is tiny at SD's KL weight)."""
    posterior = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist
    return (posterior.mean * vae.config.scaling_factor).float().cpu()


def subject_weights(alpha: torch.Tensor, size: tuple[int, ...], extra: float, edge: float = 0.0) -> torch.Tensor | None:
    """Per-latent-pixel loss weights ``1 + extra * c + edge * 4c(1 - c)`` from the subject's coverage c,
    its alpha (B, 1, H, W) averaged down to ``size`` (h, w); None when both are 0 (the plain loss).
    The ``edge`` term peaks on the latent pixels the subject's outline crosses (half covered)."""
    if not extra and not edge:
        return None
    coverage = F.adaptive_avg_pool2d(alpha.float(), size)
    return 1.0 + extra * coverage + edge * 4.0 * coverage * (1.0 - coverage)


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, pixels: torch.Tensor) -> torch.Tensor:
    """pixels (B, 3, H, W) in [-1, 1] -> scaled latents (B, C, H/f, W/f), sampled from the posterior."""
    latents = vae.encode(pixels.to(vae.dtype)).latent_dist.sample()
    return latents * vae.config.scaling_factor


def denoising_loss(unet: UNet2DConditionModel, scheduler: DDPMScheduler, latents: torch.Tensor,
                   cond: torch.Tensor, weight: torch.Tensor | None = None, snr_gamma: float = 0.0) -> torch.Tensor:
    """The denoising MSE (the target ``scheduler.config.prediction_type`` names) for latents (B, C, h, w)
    and conditioning (B, L, D); noise and timesteps from the
    global torch RNG (reseeded each step by the loop). ``weight`` (B, 1, h, w), if given, weighs each
    latent pixel (the mean is taken over the weights, so the loss keeps its scale). ``snr_gamma`` > 0
    weighs each sample by Min-SNR (arXiv 2303.09556, :func:`min_snr_weights`): the nearly clean
    timesteps, whose noise is hard to tell and whose gradients pull against the noisy ones, count less."""
    noise = torch.randn(latents.shape, device=latents.device, dtype=torch.float32).to(latents.dtype)
    steps = scheduler.config.num_train_timesteps
    timesteps = torch.randint(0, steps, (latents.shape[0],), device="cpu").to(latents.device)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    prediction = unet(noisy, timesteps, encoder_hidden_states=cond).sample
    target = denoising_target(scheduler, latents, noise, timesteps)
    if weight is None and not snr_gamma:
        return F.mse_loss(prediction.float(), target.float())
    squared = (prediction.float() - target.float()).pow(2).mean(dim=1, keepdim=True)
    weight = torch.ones_like(squared) if weight is None else weight.expand_as(squared)
    if snr_gamma:
        squared = squared * min_snr_weights(scheduler, timesteps, snr_gamma)[:, None, None, None]
    return (squared * weight).sum() / weight.sum()


def denoising_target(scheduler: DDPMScheduler, latents: torch.Tensor, noise: torch.Tensor,
                     timesteps: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict from ``scheduler.add_noise(latents, noise, timesteps)``: the noise,
    or the velocity where the schedule's ``prediction_type`` is ``v_prediction``."""
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(latents, noise, timesteps)
    return noise


def min_snr_weights(scheduler: DDPMScheduler, timesteps: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per-sample Min-SNR weights: ``min(SNR_t, gamma) / SNR_t`` for epsilon prediction (1 where SNR <= gamma),
    ``min(SNR_t, gamma) / (SNR_t + 1)`` for velocity prediction."""
    snr = compute_snr(scheduler, timesteps)
    if scheduler.config.prediction_type == "v_prediction":
        return snr.clamp(max=gamma) / (snr + 1)
    return snr.clamp(max=gamma) / snr


def drop_captions(ids: torch.Tensor, tokenizer: Any, probability: float) -> torch.Tensor:
    """Token ids (B, L) with each row replaced by the empty text's with ``probability`` (from the
    global torch RNG): the unconditional rows that classifier-free guidance needs."""
    dropped = torch.rand(ids.shape[0]) < probability
    if not dropped.any():
        return ids
    empty = tokenizer([""], padding="max_length", max_length=ids.shape[1], return_tensors="pt").input_ids
    return torch.where(dropped.to(ids.device)[:, None], empty.to(ids.device), ids)
