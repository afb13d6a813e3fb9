"""Pre-processing of subject images for the image encoder (the official ``image_processor`` component)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from blip_diffusion.utils.images import to_rgb

CONFIG_NAME = "preprocessor_config.json"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class SubjectImageProcessor:
    """RGB -> resize to ``size`` (bicubic, aspect not kept, as the original) -> [0, 1] -> normalise.

    Reads and writes ``preprocessor_config.json`` in the format of the official model folders
    (``BlipImageProcessor``).
    """

    def __init__(
        self,
        size: tuple[int, int] = (224, 224),
        mean: tuple[float, ...] = CLIP_MEAN,
        std: tuple[float, ...] = CLIP_STD,
        resample: int = Image.Resampling.BICUBIC,
        rescale_factor: float = 1 / 255,
    ):
        self.size = tuple(size)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.resample = resample
        self.rescale_factor = rescale_factor

    @classmethod
    def from_pretrained(cls, folder: Path) -> SubjectImageProcessor:
        config = json.loads((Path(folder) / CONFIG_NAME).read_text())
        size = config.get("size", {"height": 224, "width": 224})
        return cls(
            size=(size["height"], size["width"]),
            mean=config.get("image_mean", CLIP_MEAN),
            std=config.get("image_std", CLIP_STD),
            resample=config.get("resample", Image.Resampling.BICUBIC),
            rescale_factor=config.get("rescale_factor", 1 / 255),
        )

    def save_pretrained(self, folder: Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        config = {
            "do_center_crop": True,
            "do_convert_rgb": True,
            "do_normalize": True,
            "do_rescale": True,
            "do_resize": True,
            "image_mean": self.mean.tolist(),
            "image_processor_type": "BlipImageProcessor",
            "image_std": self.std.tolist(),
            "resample": int(self.resample),
            "rescale_factor": self.rescale_factor,
            "size": {"height": self.size[0], "width": self.size[1]},
        }
        (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")

    def preprocess(self, images: list[Image.Image], background: tuple[int, int, int] | None = None) -> torch.Tensor:
        """PIL images -> pixel values (N, 3, H, W) float32."""
        height, width = self.size
        arrays = []
        for image in images:
            resized = to_rgb(image, background).resize((width, height), resample=self.resample)
            pixels = np.asarray(resized, dtype=np.float32) * np.float32(self.rescale_factor)
            arrays.append((pixels - self.mean) / self.std)
        return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
