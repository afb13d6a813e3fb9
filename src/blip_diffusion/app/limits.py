"""What one request may ask of the server: upload size, pixels, photos, images, steps and resolution.

Each field is one ``blip-diffusion serve`` flag (``max_upload_mb`` -> ``--max-upload-mb``); its
``help`` metadata is the flag's help text.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from blip_diffusion.errors import InputError

BYTES_PER_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = field(default=10.0, metadata={"help": "largest uploaded file, in MB"})
    max_image_pixels: int = field(default=4096 * 4096,
                                  metadata={"help": "most pixels (width x height) of a photo"})
    max_subject_photos: int = field(default=6, metadata={"help": "most photos of one subject"})
    max_images: int = field(default=4, metadata={"help": "most images per request"})
    max_steps: int = field(default=100, metadata={"help": "most denoising steps per request"})
    max_side: int = field(default=768, metadata={"help": "largest image width or height, in pixels"})
    max_frames: int = field(default=16, metadata={"help": "most frames of an interpolation"})
    max_finetune_steps: int = field(default=200,
                                    metadata={"help": "most optimizer steps of a fine-tuning run"})
    queue_size: int = field(default=16,
                            metadata={"help": "most requests waiting; more are refused as 'queue full'"})

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if value <= 0:
                raise InputError(f"--{flag(item.name)} must be positive, got {value}")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * BYTES_PER_MB)


def flag(name: str) -> str:
    """The command-line spelling of a limit: ``max_side`` -> ``max-side``."""
    return name.replace("_", "-")


def check_range(label: str, value: float, low: float, high: float, limit: str | None = None) -> None:
    """Raise unless ``low <= value <= high``; ``limit`` names the serve flag that sets ``high``."""
    if not low <= value <= high:
        where = f" on this server (--{flag(limit)})" if limit else ""
        raise InputError(f"{label} must be between {low} and {high}{where}, got {value}")


def whole_number(label: str, value: float | None) -> int:
    """``value`` as an int; an empty field or a fraction is an InputError naming ``label``."""
    if not isinstance(value, (int, float)) or not math.isfinite(value) or int(value) != value:
        raise InputError(f"{label} must be a whole number, got {value!r}")
    return int(value)


def check_sampling(limits: Limits, steps: int, width: int, height: int, num_images: int) -> None:
    """Steps, size and number of images against the server's caps (the pipeline checks the rest)."""
    check_range("steps", steps, 1, limits.max_steps, "max_steps")
    check_range("width", width, 1, limits.max_side, "max_side")
    check_range("height", height, 1, limits.max_side, "max_side")
    check_range("number of images", num_images, 1, limits.max_images, "max_images")


def check_upload(limits: Limits, path: str | os.PathLike) -> None:
    """Refuse a file over the upload cap, and a photo over the pixel cap before it is decoded."""
    path = Path(path)
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise InputError(f"{path.name} is {size} bytes; this server accepts files up to "
                         f"{limits.max_upload_mb:g} MB = {limits.max_upload_bytes} bytes (--max-upload-mb)")
    if path.suffix == ".safetensors":
        return
    try:
        with Image.open(path) as image:  # reads the header only
            pixels = image.width * image.height
            width, height = image.size
    except Image.DecompressionBombError as error:
        raise InputError(f"{path.name} has too many pixels; this server accepts photos up to "
                         f"{limits.max_image_pixels} pixels (--max-image-pixels)") from error
    except (UnidentifiedImageError, OSError) as error:
        raise InputError(f"not an image file (unknown format): {path.name}") from error
    if pixels > limits.max_image_pixels:
        raise InputError(f"{path.name} is {width}x{height} = {pixels} pixels; this server accepts photos "
                         f"up to {limits.max_image_pixels} pixels (--max-image-pixels)")
