"""Style transfer (the paper's Fig. 4): the look of one image, the structure of another.

The style image is encoded as a subject (with a class word for what it shows, e.g. "flower");
the structure image becomes a canny edge map that a ControlNet follows. The prompt draws the
target class ("a teapot on a marble table") with the style's subject embeddings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import PIL.Image

from blip_diffusion.pipelines.blip_diffusion import SubjectInput
from blip_diffusion.pipelines.control_images import ControlImage, canny_edges, fit_size
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline

logger = logging.getLogger(__name__)

DEFAULT_LONG_SIDE = 512


@dataclass
class StylizeOutput:
    """images: as the pipeline returns them; edges: the canny map (RGB) that fixed the structure."""

    images: list[PIL.Image.Image] | np.ndarray
    edges: PIL.Image.Image


def stylize(
    pipe: BlipDiffusionControlNetPipeline,
    style_image: SubjectInput,
    style_class: str | None,
    structure_image: ControlImage,
    prompt: str | list[str],
    target_class: str | None = None,
    low_threshold: float = 100,
    high_threshold: float = 200,
    height: int | None = None,
    width: int | None = None,
    **call_kwargs: object,
) -> StylizeOutput:
    """Draw ``a {target_class} {prompt}`` with the subject embeddings of ``style_image`` and the
    canny edges of ``structure_image``.

    ``style_image``: photos (with ``style_class``), a subject file or embeddings, as the pipeline's
    ``reference_image``. ``target_class`` defaults to ``style_class``. Without ``height``/``width``
    the output keeps the structure image's aspect ratio with 512 px on its long side.
    ``call_kwargs`` go to the pipeline (steps, guidance, generator, controlnet_conditioning_scale, ...).
    """
    edges = canny_edges(structure_image, low_threshold, high_threshold)
    if height is None or width is None:
        width, height = fit_size(edges.size, DEFAULT_LONG_SIDE, pipe.vae_scale_factor)
    logger.info("stylize: %s style, %dx%d structure, %dx%d output", style_class, *edges.size, width, height)
    output = pipe(prompt, style_image, edges, source_subject_category=style_class,
                  target_subject_category=target_class, height=height, width=width, **call_kwargs)
    return StylizeOutput(output.images, edges)
