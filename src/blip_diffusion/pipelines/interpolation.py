"""Subject interpolation: frames along a path between two subjects' embeddings, one shared noise.

Every frame is generated from the same initial noise and sampler randomness (one seed), so the
frames differ only by the subject embeddings and the path's endpoints are exactly the two
subjects' own generations.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL.Image
import torch

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline, SubjectInput
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

PARALLEL_EPS = 1e-4  # below this sin(angle), slerp is numerically unstable and lerp is as good


def lerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Linear interpolation (1 - t) a + t b of vectors (..., D)."""
    return (1 - t) * a + t * b


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = PARALLEL_EPS) -> torch.Tensor:
    """Spherical interpolation of each vector (..., D): the direction moves along the great circle
    at constant angular speed, the length moves linearly from |a| to |b|.

    Where a and b are (nearly) parallel or opposite (sin of their angle < ``eps``), the great
    circle is undefined or unstable and the vectors are interpolated linearly instead.
    """
    a32, b32 = a.float(), b.float()
    norm_a, norm_b = a32.norm(dim=-1, keepdim=True), b32.norm(dim=-1, keepdim=True)
    unit_a, unit_b = a32 / norm_a.clamp_min(1e-12), b32 / norm_b.clamp_min(1e-12)
    # the angle from chord lengths: accurate near 0 and pi, where arccos of the dot product is not
    omega = 2 * torch.atan2((unit_a - unit_b).norm(dim=-1, keepdim=True), (unit_a + unit_b).norm(dim=-1, keepdim=True))
    sin = torch.sin(omega)
    safe_sin = torch.where(sin < eps, torch.ones_like(sin), sin)
    direction = (torch.sin((1 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / safe_sin
    spherical = direction * lerp(norm_a, norm_b, t)
    return torch.where(sin < eps, lerp(a32, b32, t), spherical).to(a.dtype)


INTERPOLATIONS: dict[str, Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]] = {
    "linear": lerp,
    "spherical": slerp,
}


def interpolate_embeddings(a: torch.Tensor, b: torch.Tensor, num_frames: int, method: str = "spherical") -> torch.Tensor:
    """(Q, D), (Q, D) -> (num_frames, Q, D) at evenly spaced t in [0, 1]; the first and last are a and b exactly."""
    if method not in INTERPOLATIONS:
        raise InputError(f"interpolation method must be one of {', '.join(INTERPOLATIONS)}, got {method!r}")
    if num_frames < 2:
        raise InputError(f"num_frames must be at least 2 (the two subjects), got {num_frames}")
    if a.shape != b.shape:
        raise InputError(f"subject embeddings differ in shape: {tuple(a.shape)} and {tuple(b.shape)}")
    inner = [INTERPOLATIONS[method](a, b, t) for t in frame_weights(num_frames)[1:-1]]
    return torch.stack([a, *inner, b])


def frame_weights(num_frames: int) -> list[float]:
    """The fraction t of subject B in each of ``num_frames`` evenly spaced frames."""
    return torch.linspace(0, 1, num_frames).tolist()


@dataclass
class InterpolationOutput:
    """frames: one image per step of the path (PIL images, or (H, W, 3) arrays for output_type "np").
    weights: the fraction t of subject B in each frame."""

    frames: list
    weights: list[float]


def interpolate_subjects(
    pipe: BlipDiffusionPipeline,
    prompt: str,
    subject_a: SubjectInput,
    subject_b: SubjectInput,
    category_a: str | None = None,
    category_b: str | None = None,
    target_category: str | None = None,
    num_frames: int = 8,
    method: str = "spherical",
    seed: int = 0,
    **call_kwargs: object,
) -> InterpolationOutput:
    """Generate ``num_frames`` images of ``prompt`` along the path from subject A to subject B.

    Subjects are photos (with their class word), subject files or embeddings, as for the
    pipeline's ``reference_image``. The prompt's class word is ``target_category``; by default the
    subjects' shared class (required when they differ). Every frame uses ``seed`` for its initial
    noise and sampler, so frame 0 equals ``pipe(prompt, subject_a, ..., generator=seed)``.
    ``call_kwargs`` go to the pipeline (steps, guidance, size, negative prompt, output_type).
    """
    embeds_a, source_a = pipe.prepare_subject_embeds(subject_a, category_a, None, 1)
    embeds_b, source_b = pipe.prepare_subject_embeds(subject_b, category_b, None, 1)
    if target_category is None:
        if source_a != source_b or source_a is None:
            raise InputError(f"the subjects' classes differ ({source_a!r}, {source_b!r}): give target_category, "
                             "the class word the prompt should use")
        target_category = source_a
    path = interpolate_embeddings(embeds_a[0], embeds_b[0], num_frames, method)
    frames = []
    for embeds in path:
        generator = torch.Generator().manual_seed(seed)
        output = pipe(prompt, embeds, target_subject_category=target_category, generator=generator, **call_kwargs)
        frames.append(output.images[0])
    logger.info("interpolated %d frames (%s) from %s to %s", num_frames, method, source_a, source_b)
    return InterpolationOutput(frames, frame_weights(num_frames))


def save_gif(frames: Sequence[PIL.Image.Image], path: str | os.PathLike, frame_ms: int = 250,
             bounce: bool = False) -> Path:
    """An animated GIF looping forever; ``bounce`` plays the frames forward then backward."""
    if frame_ms < 1:
        raise InputError(f"frame duration must be at least 1 ms, got {frame_ms}")
    sequence = list(frames) + (list(frames[-2:0:-1]) if bounce else [])
    with atomic_path(path) as tmp:
        sequence[0].save(tmp, format="GIF", save_all=True, append_images=sequence[1:], duration=frame_ms, loop=0)
    return Path(path)


def mp4_available() -> bool:
    """Whether imageio and its ffmpeg plugin are installed (MP4 output is optional)."""
    return all(importlib.util.find_spec(name) is not None for name in ("imageio", "imageio_ffmpeg"))


def save_mp4(frames: Sequence[PIL.Image.Image], path: str | os.PathLike, fps: float = 4) -> Path:
    """An H.264 MP4 of the frames (needs ``pip install imageio[ffmpeg]``)."""
    if not mp4_available():
        raise InputError("MP4 output needs imageio with ffmpeg: pip install imageio[ffmpeg]")
    import imageio.v2 as imageio

    with atomic_path(path) as tmp, imageio.get_writer(tmp, format="FFMPEG", fps=fps, macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(np.asarray(frame.convert("RGB")))
    return Path(path)


def path_progress(weights: Sequence[float], scores: Sequence[float]) -> float:
    """Spearman rank correlation between each frame's weight of subject B and a per-frame score
    (e.g. an attribute classifier's probability of B's attribute): 1.0 when the score rises
    monotonically from A to B, 0.0 when it does not move."""
    if len(weights) != len(scores) or len(weights) < 2:
        raise InputError(f"need one score per frame (at least 2), got {len(scores)} scores for {len(weights)} frames")
    ranks = [_ranks(np.asarray(values, dtype=np.float64)) for values in (weights, scores)]
    if any(r.std() == 0 for r in ranks):
        return 0.0
    return float(np.corrcoef(*ranks)[0, 1])


def _ranks(values: np.ndarray) -> np.ndarray:
    """Ranks from 0, ties sharing their mean rank."""
    ranks = np.empty(len(values))
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    for value in np.unique(values):
        ranks[values == value] = ranks[values == value].mean()
    return ranks
