"""Samplers selectable by name; each is built from the model's own scheduler config."""

from __future__ import annotations

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
    """Scheduler ``name`` configured like ``config`` (the training noise schedule stays the same)."""
    if name not in SCHEDULERS:
        raise InputError(f"unknown scheduler {name!r}: choose one of {', '.join(SCHEDULERS)}")
    return SCHEDULERS[name].from_config(config)
