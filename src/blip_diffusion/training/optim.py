"""Optimizer and learning-rate schedule: AdamW with no weight decay on biases, norms and embeddings."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from diffusers.optimization import get_scheduler
from torch import nn

from blip_diffusion.training.config import RunConfig

NO_DECAY_WORDS = ("bias", "norm", "embedding", "query_tokens", "logit_scale", "temp")


def parameter_groups(named: Iterable[tuple[str, nn.Parameter]], weight_decay: float) -> list[dict]:
    """Split trainable parameters into a decayed and an undecayed group (names decide, as in BERT/BLIP-2)."""
    decay, no_decay = [], []
    for name, param in named:
        if not param.requires_grad:
            continue
        lowered = name.lower()
        (no_decay if param.ndim < 2 or any(w in lowered for w in NO_DECAY_WORDS) else decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def make_optimizer(named: Iterable[tuple[str, nn.Parameter]], run: RunConfig) -> torch.optim.AdamW:
    groups = [g for g in parameter_groups(named, run.weight_decay) if g["params"]]
    return torch.optim.AdamW(groups, lr=run.learning_rate, betas=(run.adam_beta1, run.adam_beta2), eps=run.adam_epsilon)


def make_lr_schedule(optimizer: torch.optim.Optimizer, run: RunConfig) -> torch.optim.lr_scheduler.LambdaLR:
    """One schedule step per optimizer step, whatever the number of processes."""
    return get_scheduler(run.lr_schedule, optimizer, num_warmup_steps=run.warmup_steps, num_training_steps=run.max_steps)
