"""Example pictures of the toy world, for the documentation and for a quick look."""

from __future__ import annotations

import numpy as np
from PIL import Image

from blip_diffusion.toyworld.benchset import bench_prompts, bench_subjects, truth_photo
from blip_diffusion.toyworld.photos import render_photo
from blip_diffusion.toyworld.render import random_lighting, random_pose
from blip_diffusion.toyworld.scenes import SCENE_NAMES
from blip_diffusion.toyworld.subjects import CLASSES, COLOURS, FINISHES, PATTERNS, SIZES, Subject


def _sheet(pictures: list[list[np.ndarray]], scale: int) -> Image.Image:
    """Rows of equally sized (H, W, 3) uint8 pictures -> one image, each picture scaled up ``scale``x."""
    rows = [np.concatenate(row, axis=1) for row in pictures]
    sheet = Image.fromarray(np.concatenate(rows, axis=0))
    return sheet.resize((sheet.width * scale, sheet.height * scale), Image.Resampling.NEAREST)


def world_sheet(resolution: int = 64, columns: int = 12, seed: int = 0, scale: int = 2) -> Image.Image:
    """One row per class; along a row the pattern, finish, size and colours change, and the 24
    scenes go round across the sheet."""
    rng = np.random.default_rng(seed)
    pictures = []
    for row, class_name in enumerate(CLASSES):
        line = []
        for column in range(columns):
            colour, accent = rng.choice(len(COLOURS), size=2, replace=False)
            subject = Subject(
                class_name,
                COLOURS[colour],
                COLOURS[accent],
                PATTERNS[column % len(PATTERNS)],
                FINISHES[(row + column) % len(FINISHES)],
            )
            scene = SCENE_NAMES[(row * columns + column) % len(SCENE_NAMES)]
            pose = random_pose(rng, SIZES[(row + column) % len(SIZES)])
            line.append(render_photo(subject, scene, pose, random_lighting(rng), rng, resolution).image)
        pictures.append(line)
    return _sheet(pictures, scale)


def bench_sheet(subjects: int = 3, resolution: int = 64, scale: int = 2) -> Image.Image:
    """Per ToyBench subject: its reference photos, then ground truth for 4 context prompts and the
    5 property prompts (first sample each)."""
    members = bench_subjects(subjects, resolution)
    count = max(len(member.references) for member in members)
    blank = np.full((resolution, resolution, 3), 255, dtype=np.uint8)
    pictures = []
    for member in members:
        references = [photo.image for photo in member.references]
        references += [blank] * (count - len(references))
        prompts = [0, 2, 12, 16, *range(20, len(bench_prompts(member.subject)))]
        line = references + [blank] + [truth_photo(member, index, 0, resolution).image for index in prompts]
        pictures.append(line)
    return _sheet(pictures, scale)
