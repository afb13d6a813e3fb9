"""Image generators for ToyBench rows that are not BLIP-Diffusion: ground-truth renders (as they
are, and through a VAE) and a text-only base model. Both follow the harness's
:data:`~blip_diffusion.evaluation.generation.ImageGenerator` interface (requests -> pictures)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from blip_diffusion.evaluation.pipeline_generator import GenerationSettings, draw_from_text
from blip_diffusion.evaluation.worklist import GenerationRequest
from blip_diffusion.toyworld.bench import ToyBench
from blip_diffusion.toyworld.benchset import BenchSubject, prompt_target, truth_photo
from blip_diffusion.toyworld.scenes import Prompt, caption


def full_caption(member: BenchSubject, prompt: Prompt) -> str:
    """The whole description of what ``prompt`` asks of ``member``, for a text-only model:
    ``a shiny red and white striped star on the beach``."""
    subject, size = prompt_target(member.subject, prompt)
    return caption(subject, prompt.scene, size or "medium")


class TruthGenerator:
    """Answers every request with a ground-truth render (the upper bound of every score)."""

    def __init__(self, bench: ToyBench, resolution: int):
        self.bench, self.resolution = bench, resolution

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        return [
            truth_photo(self.bench.member(r.subject), r.prompt.index, r.sample, self.resolution).pil()
            for r in requests
        ]


class VaeRoundTripGenerator(TruthGenerator):
    """Ground-truth renders encoded and decoded by a VAE (the posterior mean): the upper bound of
    any model that draws through that VAE's latents."""

    def __init__(self, bench: ToyBench, resolution: int, vae: Any):
        super().__init__(bench, resolution)
        self.vae = vae

    @torch.no_grad()
    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        pictures = np.stack([np.asarray(p) for p in super().__call__(requests)])
        pixels = torch.from_numpy(pictures).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
        pixels = pixels.to(self.vae.device, self.vae.dtype)
        decoded = self.vae.decode(self.vae.encode(pixels).latent_dist.mean).sample.float().clamp(-1.0, 1.0)
        out = decoded.add(1.0).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()
        return [Image.fromarray(picture) for picture in out]


class TextOnlyGenerator:
    """A text-to-image pipeline (diffusers ``StableDiffusionPipeline``-like) behind the harness:
    it gets the class-only prompt (``a star on the beach``) or, with ``full_captions``, the whole
    description of the wanted picture; never the reference photos."""

    def __init__(
        self, pipe: Callable[..., Any], bench: ToyBench, settings: GenerationSettings, full_captions: bool
    ):
        self.pipe, self.bench, self.settings, self.full_captions = pipe, bench, settings, full_captions

    def text(self, request: GenerationRequest) -> str:
        if self.full_captions:
            return full_caption(self.bench.member(request.subject), self.bench.prompt(request))
        return request.text

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        return draw_from_text(self.pipe, [self.text(r) for r in requests], requests, self.settings)
