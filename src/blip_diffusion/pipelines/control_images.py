"""Spatial conditioning images: canny edge maps, region masks, and their pre-processing.

Any map a ControlNet was trained on (canny, depth, HED, scribble, pose, ...) is accepted as an
image; only canny edges are computed here (with OpenCV, an optional dependency). A map is resized
to the output size as the original pipeline does (bicubic, aspect not kept), but only when its
aspect ratio matches the output's within ``ASPECT_TOLERANCE``: stretching an edge map would
silently distort every generated shape, so a mismatch is an error.
"""

from __future__ import annotations

import os

import numpy as np
import PIL.Image
import torch

from blip_diffusion.errors import InputError
from blip_diffusion.utils.images import load_image, to_rgb

ControlImage = str | os.PathLike | PIL.Image.Image
ASPECT_TOLERANCE = 0.02  # relative; covers rounding a photo's size to the VAE's multiple of 8
OPENCV_PACKAGE = "opencv-python-headless"


def open_image(image: ControlImage) -> PIL.Image.Image:
    return image if isinstance(image, PIL.Image.Image) else load_image(image)


def canny_edges(image: ControlImage, low_threshold: float = 100, high_threshold: float = 200) -> PIL.Image.Image:
    """White 1-px edges on black, as 3-channel RGB: the input of canny ControlNets.

    The thresholds are OpenCV's hysteresis thresholds on the gradient magnitude of the RGB image
    (as in ``lllyasviel/sd-controlnet-canny``'s annotator): lower values keep more edges.
    """
    if not 0 <= low_threshold <= high_threshold:
        raise InputError(
            f"canny thresholds must satisfy 0 <= low <= high, got low={low_threshold}, high={high_threshold}"
        )
    cv2 = _import_cv2()
    pixels = np.asarray(to_rgb(open_image(image)))
    edges = cv2.Canny(pixels, low_threshold, high_threshold)  # (H, W) uint8 in {0, 255}
    return PIL.Image.fromarray(np.repeat(edges[:, :, None], 3, axis=2))


def _import_cv2():
    try:
        import cv2
    except ImportError as error:
        raise InputError(
            f"canny edge maps need OpenCV: pip install {OPENCV_PACKAGE} (or pass an edge map as the control image)"
        ) from error
    return cv2


def check_aspect(size: tuple[int, int], width: int, height: int, name: str) -> None:
    """Raise unless an image of ``size`` (W, H) has the aspect ratio of ``width`` x ``height``."""
    ratio = (size[0] / size[1]) / (width / height)
    if abs(ratio - 1) > ASPECT_TOLERANCE:
        raise InputError(
            f"{name} is {size[0]}x{size[1]} but the output is {width}x{height}: the aspect ratios differ; "
            f"crop the image or choose an output size with its aspect ratio"
        )


def fit_size(size: tuple[int, int], long_side: int, multiple: int) -> tuple[int, int]:
    """(W, H) with the aspect ratio of ``size``, the longer side ``long_side``, both multiples of ``multiple``."""
    scale = long_side / max(size)
    return tuple(max(multiple, round(side * scale / multiple) * multiple) for side in size)


def preprocess_control_image(image: ControlImage, width: int, height: int) -> torch.Tensor:
    """One control map -> (1, 3, height, width) float32 in [0, 1].

    Matches the original pipeline's ``prepare_control_image``: RGB, bicubic resize to the output
    size, then ``uint8 * (1 / 255)`` computed in float64 and stored as float32; no normalisation.
    """
    image = open_image(image)
    check_aspect(image.size, width, height, "control image")
    resized = to_rgb(image).resize((width, height), resample=PIL.Image.Resampling.BICUBIC)
    pixels = (np.asarray(resized, dtype=np.float64) * (1 / 255)).astype(np.float32)
    return torch.from_numpy(pixels).permute(2, 0, 1)[None].contiguous()

