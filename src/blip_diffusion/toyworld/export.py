"""Writing toy-world data sets to folders of PNG files with a ``metadata.jsonl`` index.

For training code outside Python or for a look at the data; the Python data sets
(:mod:`blip_diffusion.toyworld.datasets`) are faster to use directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from tqdm.auto import tqdm

from blip_diffusion.toyworld.datasets import BackgroundPool, CaptionDataset, SubjectDataset
from blip_diffusion.toyworld.photos import Photo
from blip_diffusion.utils.atomic import atomic_path

METADATA = "metadata.jsonl"


def _photo_record(photo: Photo) -> dict[str, Any]:
    return {
        "caption": photo.caption,
        "prompt": photo.prompt,
        "class": photo.subject.class_name,
        "subject": photo.subject.subject_id,
        "scene": photo.scene,
        "size": photo.pose.size,
        "pose": {
            "cx": photo.pose.cx,
            "cy": photo.pose.cy,
            "radius": photo.pose.radius,
            "angle": photo.pose.angle,
        },
    }


def _write_caption(dataset: CaptionDataset, index: int, folder: Path) -> dict[str, Any]:
    photo = dataset[index]
    photo.pil().save(folder / f"{index:06d}.png")
    return {"file": f"{index:06d}.png", **_photo_record(photo)}


def _write_subject(dataset: SubjectDataset, index: int, folder: Path) -> dict[str, Any]:
    sample = dataset[index]
    names = {
        "target": f"{index:06d}_target.png",
        "source": f"{index:06d}_source.png",
        "mask": f"{index:06d}_mask.png",
    }
    sample.target.pil().save(folder / names["target"])
    Image.fromarray(sample.source).save(folder / names["source"])
    sample.target.mask_pil().save(folder / names["mask"])
    return {**names, **_photo_record(sample.target)}


def _write_background(dataset: BackgroundPool, index: int, folder: Path) -> dict[str, Any]:
    Image.fromarray(dataset[index]).save(folder / f"{index:06d}.png")
    return {"file": f"{index:06d}.png"}


KINDS: dict[str, tuple[type, Callable[..., dict[str, Any]]]] = {
    "captions": (CaptionDataset, _write_caption),
    "subjects": (SubjectDataset, _write_subject),
    "backgrounds": (BackgroundPool, _write_background),
}


def export_dataset(
    kind: str, out: Path, count: int, seed: int, resolution: int, progress: bool = False
) -> Path:
    """Write ``count`` items of data set ``kind`` (a key of :data:`KINDS`) into the folder ``out``,
    replacing it only once every file is written."""
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r}; expected one of {', '.join(KINDS)}")
    dataset_class, write_item = KINDS[kind]
    dataset = dataset_class(count, seed, resolution)
    with atomic_path(out) as folder:
        folder.mkdir()
        with open(folder / METADATA, "w", encoding="utf-8") as index_file:
            indices = tqdm(range(count), desc=kind, unit="item", disable=not progress, dynamic_ncols=True)
            index_file.writelines(json.dumps(write_item(dataset, index, folder)) + "\n" for index in indices)
    return Path(out)
