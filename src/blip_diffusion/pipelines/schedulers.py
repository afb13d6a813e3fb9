"""Samplers selectable by name; each is built from the model's own scheduler config."""

from __future__ import annotations

import inspect

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    PNDMScheduler,
    SchedulerMixin,
)

from blip_diffusion.errors import InputError

SCHEDULERS: dict[str, type[SchedulerMixin]] = {
    "pndm": PNDMScheduler,
    "ddim": DDIMScheduler,
    "dpm": DPMSolverMultistepScheduler,
    "euler": EulerDiscreteScheduler,
    "euler_a": EulerAncestralDiscreteScheduler,
}


def make_scheduler(name: str, config: dict) -> SchedulerMixin:
    """Scheduler ``name`` configured like ``config`` (the training noise schedule stays the same).

    Latents are not confined to [-1, 1], so samplers that can clip their x0 estimate (DDIM) do not,
    unless ``config`` asks for it: PNDM configs, the original's, have no such setting, and DDIM's own
    default (clip) would wreck every latent-space picture.
    """
    if name not in SCHEDULERS:
        raise InputError(f"unknown scheduler {name!r}: choose one of {', '.join(SCHEDULERS)}")
    cls = SCHEDULERS[name]
    clips = "clip_sample" in inspect.signature(cls.__init__).parameters and "clip_sample" not in config
    return cls.from_config(config, **({"clip_sample": False} if clips else {}))
