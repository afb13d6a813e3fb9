"""Contact sheets: per subject, its real photos on top and one row of samples per prompt below."""

from __future__ import annotations

import textwrap
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from blip_diffusion.evaluation.dreambench import Subject
from blip_diffusion.evaluation.worklist import GenerationRequest, image_path
from blip_diffusion.utils.atomic import atomic_path

GRIDS_DIR = "grids"
LABEL_WIDTH = 240
_BACKGROUND = (255, 255, 255)
_TEXT = (0, 0, 0)


def _thumbnail(path: Path, size: int) -> Image.Image:
    with Image.open(path) as image:
        return ImageOps.fit(image.convert("RGB"), (size, size), Image.Resampling.BICUBIC)


def subject_grid(rows: Sequence[tuple[str, Sequence[Path]]], thumbnail: int = 128) -> Image.Image:
    """One labelled row per (label, image paths): an RGB image of LABEL_WIDTH + columns x ``thumbnail``."""
    columns = max(len(paths) for _, paths in rows)
    grid = Image.new("RGB", (LABEL_WIDTH + columns * thumbnail, len(rows) * thumbnail), _BACKGROUND)
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default()
    for row, (label, paths) in enumerate(rows):
        top = row * thumbnail
        draw.multiline_text((6, top + 6), textwrap.fill(label, width=34), fill=_TEXT, font=font)
        for column, path in enumerate(paths):
            grid.paste(_thumbnail(path, thumbnail), (LABEL_WIDTH + column * thumbnail, top))
    return grid


def write_subject_grids(
    subjects: Sequence[Subject], requests: Sequence[GenerationRequest], out_dir: Path, thumbnail: int = 128
) -> list[Path]:
    """Write ``grids/<subject>.jpg`` for every subject with generated images; return the paths."""
    per_prompt: dict[str, dict[int, list[GenerationRequest]]] = defaultdict(lambda: defaultdict(list))
    for request in requests:
        per_prompt[request.subject][request.prompt.index].append(request)
    written = []
    for subject in subjects:
        if subject.name not in per_prompt:
            continue
        rows = [(f"{subject.name}: real photos", list(subject.images))]
        rows += [
            (group[0].text, [image_path(out_dir, r) for r in group])
            for _, group in sorted(per_prompt[subject.name].items())
        ]
        path = Path(out_dir) / GRIDS_DIR / f"{subject.name}.jpg"
        with atomic_path(path) as tmp:
            subject_grid(rows, thumbnail).save(tmp, format="JPEG", quality=90)
        written.append(path)
    return written
