"""The sampling settings every generating tab shares: their inputs, their checks, their metadata."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr
import torch

from blip_diffusion.app.limits import Limits, check_range, check_sampling, whole_number
from blip_diffusion.pipelines.control_images import fit_size

MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit seed
DEFAULT_STEPS = 50


@dataclass(frozen=True)
class Sampling:
    """Checked settings of one request; image i uses seed ``seed + i``."""

    negative_prompt: str
    seed: int
    steps: int
    guidance: float
    width: int
    height: int
    num_images: int

    @property
    def seeds(self) -> list[int]:
        return [self.seed + i for i in range(self.num_images)]

    def generators(self) -> list[torch.Generator]:
        return [torch.Generator("cpu").manual_seed(seed) for seed in self.seeds]

    def call_kwargs(self) -> dict:
        """The pipeline's arguments for these settings (all but the generators)."""
        return {"negative_prompt": self.negative_prompt, "guidance_scale": self.guidance,
                "num_inference_steps": self.steps, "height": self.height, "width": self.width}

    def settings(self, pipe: object) -> dict:
        """For the PNG metadata, with the keys ``blip-diffusion generate`` writes."""
        return {"negative_prompt": self.negative_prompt, "model": str(pipe.model_name), "steps": self.steps,
                "guidance": self.guidance, "size": f"{self.width}x{self.height}",
                "scheduler": type(pipe.scheduler).__name__,
                "dtype": str(pipe.unet.dtype).removeprefix("torch."),
                **({"feature_cache": pipe.feature_cache.interval} if pipe.feature_cache else {})}



def read_sampling(
    limits: Limits, negative_prompt: str, seed: float | None, steps: float | None, guidance: float,
    width: float | None, height: float | None, num_images: float | None = 1,
) -> Sampling:
    """The form's values as checked :class:`Sampling`; an empty or out-of-range field is an InputError."""
    numbers = {"seed": seed, "steps": steps, "width": width, "height": height, "number of images": num_images}
    seed, steps, width, height, num_images = (whole_number(label, value) for label, value in numbers.items())
    check_sampling(limits, steps, width, height, num_images)
    check_range("seed", seed, 0, MAX_SEED - num_images)
    return Sampling(negative_prompt, seed, steps, float(guidance), width, height, num_images)


def fit_long_side(
    limits: Limits, size: tuple[int, int], long_side: float | None, multiple: int
) -> tuple[int, int]:
    """(width, height) with the aspect ratio of ``size`` and ``long_side`` on its longer side, both
    multiples of ``multiple``."""
    long_side = whole_number("long side", long_side)
    check_range("long side", long_side, multiple, limits.max_side, "max_side")
    return fit_size(size, long_side - long_side % multiple, multiple)


@dataclass
class SamplingInputs:
    """The sampling components of one tab, in the order ``read_sampling`` takes their values.

    ``height`` is None where one "long side" field (``width``) sizes the image along its input's
    aspect ratio; ``num_images`` is None where a tab makes a fixed number of images.
    """

    negative_prompt: gr.Textbox
    seed: gr.Number
    steps: gr.Number
    guidance: gr.Slider
    width: gr.Number
    height: gr.Number | None
    num_images: gr.Number | None

    def components(self) -> list[gr.components.Component]:
        parts = [self.negative_prompt, self.seed, self.steps, self.guidance, self.width, self.height,
                 self.num_images]
        return [part for part in parts if part is not None]


def sampling_inputs(
    limits: Limits, pipe: Any, num_images: bool = True, long_side: bool = False
) -> SamplingInputs:
    """Negative prompt, seed, steps, guidance, size (width and height, or the long side) and images."""
    negative_prompt = gr.Textbox(label="Negative prompt")
    with gr.Row():
        seed = gr.Number(label="Seed (image i: seed + i)" if num_images else "Seed", value=0, precision=0)
        count = None
        if num_images:
            count = gr.Number(label=f"Images (1-{limits.max_images})", value=1, precision=0)
        steps = gr.Number(label=f"Steps (1-{limits.max_steps})", value=min(DEFAULT_STEPS, limits.max_steps),
                          precision=0)
    guidance = gr.Slider(1.0, 20.0, value=7.5, step=0.5, label="Guidance scale")
    side, multiple = min(pipe.default_size, limits.max_side), pipe.vae_scale_factor
    if long_side:
        label = f"Long side (up to {limits.max_side}; the other follows the image's aspect ratio)"
        longer = gr.Number(label=label, value=side, precision=0)
        return SamplingInputs(negative_prompt, seed, steps, guidance, longer, None, count)
    with gr.Row():
        rule = f"(multiple of {multiple}, up to {limits.max_side})"
        width = gr.Number(label=f"Width {rule}", value=side, precision=0)
        height = gr.Number(label=f"Height {rule}", value=side, precision=0)
    return SamplingInputs(negative_prompt, seed, steps, guidance, width, height, count)
