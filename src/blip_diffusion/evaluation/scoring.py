"""Score generated images against their subject's photos and prompt, then average.

Per image: DINO and CLIP-I = mean cosine to the subject's real photos, CLIP-T = cosine to the prompt.
Headline numbers = the mean over all generated images (every subject has the same number of them,
so this is also the mean over subjects). Real-vs-real = the mean over subjects of each subject's
mean over pairs of distinct photos.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from blip_diffusion.evaluation.dreambench import Subject
from blip_diffusion.evaluation.encoders import ClipEncoder, DinoEncoder
from blip_diffusion.evaluation.metrics import cosine_to_references, distinct_pairs_cosine, paired_cosine
from blip_diffusion.evaluation.worklist import GenerationRequest, image_path

METRICS = ("dino", "clip_i", "clip_t")
REAL_METRICS = ("dino", "clip_i")


@dataclass(frozen=True)
class ImageScore:
    """The three scores of one generated image."""

    request: GenerationRequest
    dino: float
    clip_i: float
    clip_t: float


@dataclass(frozen=True)
class RealScore:
    """Real-vs-real scores of one subject (None when it has fewer than 2 photos)."""

    dino: float | None
    clip_i: float | None


def _open(paths: Iterable[Path]) -> list[Image.Image]:
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


def score_subject(
    subject: Subject,
    requests: Sequence[GenerationRequest],
    out_dir: Path,
    dino: DinoEncoder,
    clip: ClipEncoder,
    batch_size: int = 32,
) -> tuple[list[ImageScore], RealScore]:
    """Score one subject's generated images (read from ``out_dir``) and its real-vs-real pairs."""
    real = _open(subject.images)
    real_dino, real_clip = dino.encode_images(real, batch_size), clip.encode_images(real, batch_size)
    pairs = len(real) >= 2
    real_score = RealScore(
        distinct_pairs_cosine(real_dino) if pairs else None,
        distinct_pairs_cosine(real_clip) if pairs else None,
    )
    if not requests:
        return [], real_score
    generated = _open(image_path(out_dir, request) for request in requests)
    gen_clip = clip.encode_images(generated, batch_size)
    texts = clip.encode_texts([request.text for request in requests], batch_size)
    dino_scores = cosine_to_references(dino.encode_images(generated, batch_size), real_dino)
    clip_i_scores = cosine_to_references(gen_clip, real_clip)
    clip_t_scores = paired_cosine(gen_clip, texts)
    scores = [
        ImageScore(request, float(d), float(i), float(t))
        for request, d, i, t in zip(requests, dino_scores, clip_i_scores, clip_t_scores, strict=True)
    ]
    return scores, real_score


def score_all(
    subjects: Sequence[Subject],
    requests: Sequence[GenerationRequest],
    out_dir: Path,
    dino: DinoEncoder,
    clip: ClipEncoder,
    batch_size: int = 32,
    progress: bool = False,
) -> tuple[list[ImageScore], dict[str, RealScore]]:
    """Score every request's image; return the image scores and each subject's real-vs-real score."""
    by_subject: dict[str, list[GenerationRequest]] = defaultdict(list)
    for request in requests:
        by_subject[request.subject].append(request)
    images: list[ImageScore] = []
    real: dict[str, RealScore] = {}
    for subject in tqdm(subjects, desc="scoring", unit="subject", disable=not progress, dynamic_ncols=True):
        subject_scores, real[subject.name] = score_subject(
            subject, by_subject[subject.name], out_dir, dino, clip, batch_size
        )
        images.extend(subject_scores)
    return images, real


def mean_scores(scores: Sequence[ImageScore]) -> dict[str, float]:
    """Mean DINO, CLIP-I and CLIP-T over ``scores`` plus their count under ``"images"``."""
    means: dict[str, float] = {m: sum(getattr(s, m) for s in scores) / len(scores) for m in METRICS}
    means["images"] = len(scores)
    return means


def mean_real(real: Iterable[RealScore]) -> dict[str, float | None]:
    """Mean over subjects of the real-vs-real scores (subjects with fewer than 2 photos left out)."""
    means: dict[str, float | None] = {}
    for metric in REAL_METRICS:
        values = [getattr(r, metric) for r in real if getattr(r, metric) is not None]
        means[metric] = sum(values) / len(values) if values else None
    return means


def _grouped(scores: Sequence[ImageScore], key: Callable[[ImageScore], str]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[ImageScore]] = defaultdict(list)
    for score in scores:
        groups[key(score)].append(score)
    return {name: mean_scores(group) for name, group in groups.items()}


def by_subject(scores: Sequence[ImageScore]) -> dict[str, dict[str, float]]:
    """Mean scores per subject name."""
    return _grouped(scores, lambda score: score.request.subject)


def by_prompt(scores: Sequence[ImageScore]) -> dict[str, dict[str, float]]:
    """Mean scores per prompt pattern (e.g. ``a {class} in the snow``) over the subjects that used it."""
    return _grouped(scores, lambda score: score.request.prompt.pattern)
