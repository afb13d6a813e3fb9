"""Resumable generation: make the images of a work list that are not on disk yet.

The harness depends only on :data:`ImageGenerator`, a callable from requests to images, so the
metric, report and resume logic does not care which model draws the pictures
(:mod:`blip_diffusion.evaluation.pipeline_generator` adapts ``BlipDiffusionPipeline``).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm

from blip_diffusion.evaluation.worklist import GenerationRequest, image_path
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

ImageGenerator = Callable[[Sequence[GenerationRequest]], list[Image.Image]]
"""Makes one image per request, in order; the requests of one call share subject and prompt."""


def missing_requests(requests: Sequence[GenerationRequest], out_dir: Path) -> list[GenerationRequest]:
    """The requests whose image file does not exist yet."""
    return [request for request in requests if not image_path(out_dir, request).is_file()]


def _groups(requests: Sequence[GenerationRequest]) -> Iterator[list[GenerationRequest]]:
    """Consecutive runs of requests with the same subject and prompt (the samples of one prompt)."""
    for _, group in itertools.groupby(requests, key=lambda r: (r.subject, r.prompt.index)):
        yield list(group)


def generate_missing(
    requests: Sequence[GenerationRequest],
    make_generator: Callable[[], ImageGenerator],
    out_dir: Path,
    progress: bool = False,
    description: str = "generating",
) -> int:
    """Generate and save (PNG, atomically) every request whose image is missing; return how many.

    Existing images are kept and skipped. ``make_generator`` is only called when something is left to
    do, so a finished run does not load the model again.
    """
    todo = missing_requests(requests, out_dir)
    logger.info(
        "%d of %d images already exist; %d to generate", len(requests) - len(todo), len(requests), len(todo)
    )
    if not todo:
        return 0
    generator = make_generator()
    with tqdm(
        total=len(todo), unit="image", desc=description, disable=not progress, dynamic_ncols=True
    ) as bar:
        for group in _groups(todo):
            images = generator(group)
            if len(images) != len(group):
                raise RuntimeError(f"the generator returned {len(images)} images for {len(group)} requests")
            for request, image in zip(group, images, strict=True):
                with atomic_path(image_path(out_dir, request)) as tmp:
                    image.save(tmp, format="PNG")
            bar.update(len(group))
    return len(todo)
