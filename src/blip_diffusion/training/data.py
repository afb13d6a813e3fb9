"""Training examples: the toy world's data sets and folders of real images.

Every data set here is addressed by global position (see :mod:`blip_diffusion.training.batches`)
and returns plain numpy/str items; the tasks turn batches of them into tensors.

Real-image folder format (stage 1 and stage 2)::

    DATA/
      captions.jsonl        one JSON object per line:
                            {"image": "images/0001.jpg", "caption": "a dog on a sofa",
                             "class": "dog", "mask": "masks/0001.png"}
      images/ ...           any format PIL reads; resized and centre-cropped to the resolution
      masks/ ...            optional: 8-bit alpha of the subject (255 = subject); where absent,
                            stage 2 segments with CLIPSeg + closed-form matting (training/matting.py)
                            and caches the result in DATA/masks_auto/
    BACKGROUNDS/ ...        stage 2: a folder of background pictures for the composites

``class`` is needed by stage 2 (the Q-Former's subject text and CLIPSeg's prompt); ``mask`` is optional.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.image_processing import CLIP_MEAN, CLIP_STD
from blip_diffusion.toyworld.datasets import CaptionDataset, SubjectDataset, item_rng
from blip_diffusion.toyworld.photos import Photo
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, VOCABULARIES
from blip_diffusion.utils.images import load_image, to_rgb

CAPTIONS_FILE = "captions.jsonl"
ENDLESS = 2**62
NEGATIVES_STREAM = 4  # an item_rng stream of its own (the toy data sets use 1-3)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


class ToyCaptions:
    """Toy-world photos with their full caption (``caption="full"``) or class-plus-context prompt.

    With ``negatives`` > 0 (full captions only) each item also has that many hard-negative captions,
    each the true one with another identity attribute changed to another value of its vocabulary
    (drawn from the item's own seeded stream, so a position always gives the same ones).
    """

    def __init__(self, seed: int, resolution: int, caption: str = "full", negatives: int = 0):
        if not 0 <= negatives <= len(IDENTITY_ATTRIBUTES):
            raise InputError(f"negatives must be 0..{len(IDENTITY_ATTRIBUTES)} (one per identity attribute), "
                             f"got {negatives}")
        if negatives and caption != "full":
            raise InputError("hard-negative captions need full captions (caption='full')")
        self.photos = CaptionDataset(ENDLESS, seed, resolution)
        self.caption, self.negatives, self.seed = caption, negatives, seed

    def __len__(self) -> int:
        return ENDLESS

    def __getitem__(self, position: int) -> dict[str, Any]:
        photo = self.photos[position]
        text = photo.caption if self.caption == "full" else photo.prompt
        item = {"image": photo.image, "caption": text, "class": photo.subject.class_name, "alpha": photo.alpha}
        if self.negatives:
            item["negatives"] = hard_negatives(photo, self.negatives, item_rng(self.seed, NEGATIVES_STREAM, position))
        return item


class ToyLabelled:
    """Toy-world photos of training subjects with the index of each identity attribute and of the scene
    (``Photo.labels``): the labels an image encoder is pre-trained to read before stage 1 freezes it."""

    def __init__(self, seed: int, resolution: int):
        self.photos = CaptionDataset(ENDLESS, seed, resolution)

    def __len__(self) -> int:
        return ENDLESS

    def __getitem__(self, position: int) -> dict[str, Any]:
        photo = self.photos[position]
        return {"image": photo.image, "labels": photo.labels()}


def hard_negatives(photo: Photo, count: int, rng: np.random.Generator) -> list[str]:
    """``count`` captions of ``photo`` with each a different identity attribute changed."""
    captions = []
    for index in rng.choice(len(IDENTITY_ATTRIBUTES), size=count, replace=False):
        attribute = IDENTITY_ATTRIBUTES[index]
        others = [v for v in VOCABULARIES[attribute] if v != getattr(photo.subject, attribute)]
        captions.append(photo.caption_with(attribute, others[rng.integers(len(others))]))
    return captions


class ToySubjects:
    """Stage-2 toy material: target photo, the subject composited on a pool background, caption."""

    def __init__(self, seed: int, resolution: int, caption: str = "prompt", pool_size: int = 4096):
        self.samples = SubjectDataset(ENDLESS, seed, resolution, pool_size)
        self.caption = caption

    def __len__(self) -> int:
        return ENDLESS

    def __getitem__(self, position: int) -> dict[str, Any]:
        sample = self.samples[position]
        text = sample.target.caption if self.caption == "full" else sample.target.prompt
        return {"image": sample.target.image, "source": sample.source, "caption": text,
                "class": sample.target.subject.class_name, "alpha": sample.target.alpha}


def read_records(folder: Path) -> list[dict[str, Any]]:
    """The lines of ``folder/captions.jsonl``, each checked for an existing image and a caption."""
    index = Path(folder) / CAPTIONS_FILE
    if not index.is_file():
        raise InputError(f"{folder} is not a data folder: {CAPTIONS_FILE} is missing (see docs/training.md)")
    records = []
    for number, line in enumerate(index.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"{index}:{number} is not valid JSON: {error}") from error
        if not isinstance(record.get("image"), str) or not isinstance(record.get("caption"), str):
            raise InputError(f'{index}:{number} needs "image" and "caption" strings, got {record}')
        if not (Path(folder) / record["image"]).is_file():
            raise InputError(f"{index}:{number}: image {Path(folder) / record['image']} not found")
        records.append(record)
    if not records:
        raise InputError(f"{index} lists no images")
    return records


def square(image: Image.Image, resolution: int, resample: int = Image.Resampling.BICUBIC) -> Image.Image:
    """Resize the short side to ``resolution`` and centre-crop a square."""
    scale = resolution / min(image.size)
    width, height = max(resolution, round(image.width * scale)), max(resolution, round(image.height * scale))
    image = image.resize((width, height), resample=resample)
    left, top = (width - resolution) // 2, (height - resolution) // 2
    return image.crop((left, top, left + resolution, top + resolution))


class FolderCaptions:
    """Image-caption pairs from a data folder (items as the toy sets give them)."""

    def __init__(self, folder: str | Path, resolution: int):
        self.folder, self.resolution = Path(folder), resolution
        self.records = read_records(self.folder)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        image = square(to_rgb(load_image(self.folder / record["image"])), self.resolution)
        return {"image": np.asarray(image), "caption": record["caption"], "class": record.get("class", "")}


def images_in(folder: str | Path) -> list[Path]:
    found = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not found:
        raise InputError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return found


def composite(image: np.ndarray, alpha: np.ndarray, background: np.ndarray) -> np.ndarray:
    """alpha (H, W) in [0, 1] blends image over background, both (H, W, 3) uint8 -> uint8."""
    a = alpha[..., None].astype(np.float32)
    return np.round(a * image + (1.0 - a) * background).clip(0, 255).astype(np.uint8)


def unit_pixels(images: list[np.ndarray]) -> torch.Tensor:
    """uint8 (H, W, 3) pictures -> (B, 3, H, W) float32 in [-1, 1] (VAE input)."""
    stacked = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return stacked / 127.5 - 1.0


def clip_pixels(images: list[np.ndarray], size: int) -> torch.Tensor:
    """uint8 (H, W, 3) pictures -> (B, 3, size, size) CLIP-normalised (image-encoder input)."""
    pixels = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255.0
    if pixels.shape[-1] != size:
        pixels = torch.nn.functional.interpolate(pixels, size=(size, size), mode="bicubic", align_corners=False,
                                                 antialias=True)
    mean, std = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1), torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (pixels - mean) / std


class FolderSubjects:
    """Stage-2 examples from a data folder, by global position: records in a new seeded order every
    epoch, the subject (mask given or matted) put on a background drawn for that position."""

    def __init__(self, folder: str | Path, backgrounds: str | Path, resolution: int, clipseg: str = "", seed: int = 0):
        from blip_diffusion.training.batches import Shuffled
        from blip_diffusion.training.matting import prepare_masks

        self.folder, self.resolution, self.seed = Path(folder), resolution, seed
        self.records = read_records(self.folder)
        if not backgrounds:
            raise InputError("data.backgrounds must name a folder of background pictures for stage 2")
        self.backgrounds = images_in(backgrounds)
        prepare_masks(self.folder, self.records, clipseg, resolution, self.picture)
        self.order = Shuffled(self.records, seed)

    def __len__(self) -> int:
        return ENDLESS

    def picture(self, record: dict[str, Any]) -> Image.Image:
        return square(to_rgb(load_image(self.folder / record["image"])), self.resolution)

    def mask(self, record: dict[str, Any]) -> np.ndarray:
        """(H, W) float32 alpha in [0, 1]: the record's mask, else the cached CLIPSeg matte."""
        from blip_diffusion.training.matting import auto_mask_path

        path = self.folder / record["mask"] if "mask" in record else auto_mask_path(self.folder, record)
        mask = square(load_image(path).convert("L"), self.resolution, Image.Resampling.BILINEAR)
        return np.asarray(mask, dtype=np.float32) / 255.0

    def __getitem__(self, position: int) -> dict[str, Any]:
        record = self.order[position]
        image, alpha = np.asarray(self.picture(record)), self.mask(record)
        choice = np.random.default_rng([self.seed, position]).integers(len(self.backgrounds))
        background = np.asarray(square(to_rgb(load_image(self.backgrounds[choice])), self.resolution))
        return {"image": image, "source": composite(image, alpha, background), "alpha": alpha,
                "caption": record["caption"], "class": record.get("class", "")}
