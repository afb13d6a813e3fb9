"""Training and measuring the oracle on ground-truth renders.

Pictures are drawn from the whole world (both sides of the ToyBench split: the oracle is the
measuring instrument, not a model under test), in all 24 scenes, all sizes, poses and lightings.
Training pictures and held-out pictures come from separate random streams, so no held-out picture
was seen in training.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_all_start_methods, get_context

import numpy as np
import torch
from torch.nn import functional as F

from blip_diffusion.toyworld.datasets import item_rng
from blip_diffusion.toyworld.oracle import (
    LABELS,
    MASK_CELL,
    POSITION_TOLERANCE,
    RADIUS_TOLERANCE,
    Oracle,
    OracleConfig,
    read,
)
from blip_diffusion.toyworld.photos import Photo, random_photo
from blip_diffusion.toyworld.subjects import random_subject

logger = logging.getLogger(__name__)

_TRAIN_STREAM, _HELD_OUT_STREAM = 11, 12
CENTRE_JITTER = 0.01  # std of the training crops' centre shift, a fraction of the side
RADIUS_JITTER = 0.04  # std of the training crops' relative radius error


@dataclasses.dataclass(frozen=True)
class OracleTraining:
    steps: int = 4000
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    pictures: int = 60000  # rendered once, then cycled through
    pose_weight: float = 20.0  # the pose loss is in fractions of the side; this brings it to the CE scale
    mask_weight: float = 1.0
    warmup: float = 0.05  # share of the steps over which the learning rate rises
    noise: float = 0.03  # std of the pixel noise added to half of each batch, and the share of each
    blur_share: float = 0.25  # batch blurred a little, so that imperfect generations are read too
    seed: int = 0
    workers: int = 2  # processes that render the training pictures


def photo_targets(photo: Photo) -> dict[str, float | int]:
    """The oracle's targets for one photo: label index per attribute of LABELS, and cx, cy, radius."""
    targets: dict[str, float | int] = dict(photo.subject.labels())
    targets["scene"] = LABELS["scene"].index(photo.scene)
    targets["size"] = LABELS["size"].index(photo.pose.size)
    targets.update(cx=photo.pose.cx, cy=photo.pose.cy, radius=photo.pose.radius)
    return targets


def mask_target(photo: Photo) -> np.ndarray:
    """The share of each MASK_CELL x MASK_CELL cell that the subject covers: (H/8, W/8) float32."""
    side = photo.alpha.shape[0] // MASK_CELL
    return photo.alpha.reshape(side, MASK_CELL, side, MASK_CELL).mean(axis=(1, 3))


def _render_range(
    seed: int, stream: int, start: int, stop: int, resolution: int
) -> tuple[np.ndarray, np.ndarray, list[dict]]:
    images, masks, targets = [], [], []
    for index in range(start, stop):
        rng = item_rng(seed, stream, index)
        photo = random_photo(rng, random_subject(rng, held_out=None), resolution)
        images.append(photo.image)
        masks.append(mask_target(photo))
        targets.append(photo_targets(photo))
    return np.stack(images), np.stack(masks), targets


def render_pictures(
    count: int, seed: int, stream: int, resolution: int, workers: int = 1
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``count`` random photos: images (N, H, W, 3) uint8, mask targets (N, H/8, W/8) float32 and
    the other targets, one array (N,) per key of :func:`photo_targets`."""
    bounds = np.linspace(0, count, max(1, workers) * 8 + 1).astype(int)
    jobs = [(seed, stream, int(a), int(b), resolution) for a, b in itertools.pairwise(bounds) if b > a]
    if workers > 1:
        # fork: workers inherit the imported modules instead of importing torch and diffusers again
        method = "fork" if "fork" in get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(workers, mp_context=get_context(method)) as pool:
            parts = list(pool.map(_render_range, *zip(*jobs)))
    else:
        parts = [_render_range(*job) for job in jobs]
    images, masks = (np.concatenate([part[i] for part in parts]) for i in (0, 1))
    rows = [row for part in parts for row in part[2]]
    return images, masks, {key: np.asarray([row[key] for row in rows]) for key in rows[0]}


def _augment(batch: torch.Tensor, generator: torch.Generator, training: OracleTraining) -> torch.Tensor:
    """Blur a share of the batch a little and add noise to half of it; (B, 3, H, W) in [0, 1]."""
    size = batch.shape[0]
    blurred = F.avg_pool2d(F.pad(batch, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    blur = (torch.rand(size, 1, 1, 1, generator=generator) < training.blur_share).float() * 0.5
    noisy = (torch.rand(size, 1, 1, 1, generator=generator) < 0.5).float()
    noise = torch.randn(batch.shape, generator=generator) * training.noise * noisy
    return (batch * (1 - blur) + blurred * blur + noise).clamp(0.0, 1.0)


def _jittered(pose: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The true pose (B, 3) moved by about the pose reader's error: where training crops are cut."""
    noise = torch.randn(pose.shape, generator=generator).to(pose.device)
    centre = pose[:, :2] + noise[:, :2] * CENTRE_JITTER
    radius = pose[:, 2:] * (1.0 + noise[:, 2:] * RADIUS_JITTER)
    return torch.cat([centre, radius], dim=1)


def _loss(
    oracle: Oracle,
    images: torch.Tensor,
    coverage: torch.Tensor,
    targets: dict[str, torch.Tensor],
    generator: torch.Generator,
    training: OracleTraining,
) -> torch.Tensor:
    """All heads' losses for one batch; the identity reader reads crops cut at a jittered true pose,
    so that it learns from crops like those the pose reader will give it."""
    pose = torch.stack([targets["cx"], targets["cy"], targets["radius"]], dim=-1)  # (B, 3)
    output = oracle(images, crop_pose=_jittered(pose, generator))
    loss = sum(F.cross_entropy(output.logits[name], targets[name]) for name in LABELS)
    loss = loss + training.pose_weight * F.smooth_l1_loss(output.pose, pose, beta=0.01)
    return loss + training.mask_weight * F.binary_cross_entropy_with_logits(output.mask, coverage)


def train_oracle(
    training: OracleTraining = OracleTraining(),
    config: OracleConfig | None = None,
    on_step: Callable[[int, float], None] | None = None,
    device: torch.device | str = "cpu",
) -> Oracle:
    """Train an oracle from scratch on ``device``; ``on_step(step, loss)`` reports progress."""
    config = config or OracleConfig()
    torch.manual_seed(training.seed)
    started = time.monotonic()
    images, masks, targets = render_pictures(
        training.pictures, training.seed, _TRAIN_STREAM, config.resolution, training.workers
    )
    logger.info("rendered %d training pictures in %.0f s", len(images), time.monotonic() - started)
    pixels = torch.from_numpy(images).permute(0, 3, 1, 2)  # (N, 3, H, W) uint8
    cells = torch.from_numpy(masks)
    labels = {
        key: torch.from_numpy(v).long() if key in LABELS else torch.from_numpy(v).float()
        for key, v in targets.items()
    }
    oracle = Oracle(config).to(device=device, memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(
        oracle.parameters(), lr=training.learning_rate, weight_decay=training.weight_decay
    )
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, training.learning_rate, total_steps=training.steps, pct_start=training.warmup
    )
    generator = torch.Generator().manual_seed(training.seed)
    per_epoch = len(pixels) // training.batch_size
    oracle.train()
    for step in range(training.steps):
        if step % per_epoch == 0:
            order = torch.randperm(len(pixels), generator=generator)
        chosen = order[(step % per_epoch) * training.batch_size :][: training.batch_size]
        batch = _augment(pixels[chosen].float().div(255.0), generator, training)
        batch = batch.to(device).contiguous(memory_format=torch.channels_last)
        chosen_targets = {key: value[chosen].to(device) for key, value in labels.items()}
        loss = _loss(oracle, batch, cells[chosen].to(device), chosen_targets, generator, training)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if on_step is not None:
            on_step(step, loss.item())
    return oracle.eval().to(memory_format=torch.contiguous_format)


def measure_oracle(oracle: Oracle, count: int = 5000, seed: int = 0, workers: int = 1) -> dict[str, float]:
    """Accuracy per attribute on ``count`` held-out renders (a stream training never draws from).

    Keys: every attribute of LABELS, ``position`` (centre within POSITION_TOLERANCE) and
    ``radius`` (within RADIUS_TOLERANCE), each the share of pictures read right.
    """
    images, _, targets = render_pictures(count, seed, _HELD_OUT_STREAM, oracle.config.resolution, workers)
    readings = read(oracle, list(images))
    accuracy = {name: float(np.mean(readings.labels[name] == targets[name])) for name in LABELS}
    error = np.hypot(readings.poses[:, 0] - targets["cx"], readings.poses[:, 1] - targets["cy"])
    accuracy["position"] = float(np.mean(error <= POSITION_TOLERANCE))
    accuracy["radius"] = float(np.mean(np.abs(readings.poses[:, 2] - targets["radius"]) <= RADIUS_TOLERANCE))
    return accuracy
