"""Reading user images safely and converting every mode to RGB."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from blip_diffusion.errors import InputError

MAX_PIXELS = 8192 * 8192  # larger images are refused as possible decompression bombs


def load_image(path: str | os.PathLike) -> Image.Image:
    """Open and fully decode an image file; every failure is an :class:`InputError` naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"image not found: {path}")
    if not path.is_file():
        raise InputError(f"not a file: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            if image.width * image.height > MAX_PIXELS:
                raise InputError(
                    f"image too large: {path} is {image.width}x{image.height}, at most {MAX_PIXELS} pixels are accepted"
                )
            image.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise InputError(f"image too large: {path} ({error})") from error
    except UnidentifiedImageError as error:
        raise InputError(f"not an image file (unknown format): {path}") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise InputError(f"cannot decode image {path} (corrupt or truncated): {error}") from error
    return image


def to_rgb(image: Image.Image, background: tuple[int, int, int] | None = None) -> Image.Image:
    """Convert any PIL mode to 8-bit RGB.

    Alpha is dropped, as the original implementation does (PIL ``convert("RGB")``), unless a
    ``background`` colour is given, in which case the image is composited onto it. 16- and 32-bit
    greyscale images are scaled to 8 bits instead of being clipped.
    """
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / top * 255.0 + 0.5, 0, 255).astype(np.uint8))
    if background is not None and (image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")
