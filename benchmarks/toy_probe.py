"""What the toy application benchmarks (toy_controlnet, toy_interpolation, toy_multi_subject) share:
the bundled toy model with the sampler ToyBench uses, the oracle, the ToyBench subjects and their
context phrases, and how much of a subject's identity the oracle reads in a picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.schedulers import make_scheduler
from blip_diffusion.toyworld.oracle import Oracle, Readings, load_oracle
from blip_diffusion.toyworld.scenes import CONTEXT_SCENES
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, Subject

ROOT = Path(__file__).resolve().parents[1]
TOY_MODEL = ROOT / "assets" / "models" / "toy" / "blip-diffusion"
STEPS = 20  # DPM-Solver++ steps, as ToyBench's tables
CONTEXTS = tuple(scene.phrase for scene in CONTEXT_SCENES)  # "on the beach", ...


def toy_pipeline(model: Path = TOY_MODEL) -> BlipDiffusionPipeline:
    pipe = BlipDiffusionPipeline.from_pretrained(model)
    pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def oracle() -> Oracle:
    return load_oracle(ROOT / "assets" / "toyworld" / "oracle.safetensors")


def agreement(readings: Readings, index: int, subject: Subject,
              attributes: tuple[str, ...] = IDENTITY_ATTRIBUTES) -> float:
    """Share of ``attributes`` of ``subject`` the oracle read in picture ``index``."""
    words = readings.words(index)
    return float(np.mean([words[name] == getattr(subject, name) for name in attributes]))


def grid(rows: list[list[Image.Image]], path: Path, cell: int = 64) -> None:
    """Write ``rows`` of pictures as one JPEG, each picture scaled to ``cell`` pixels high."""
    scaled = [[p.resize((p.width * cell // p.height, cell), Image.Resampling.NEAREST) for p in row] for row in rows]
    width = max(sum(p.width for p in row) for row in scaled)
    sheet = Image.new("RGB", (width, cell * len(rows)), "white")
    for y, row in enumerate(scaled):
        x = 0
        for picture in row:
            sheet.paste(picture, (x, y * cell))
            x += picture.width
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, quality=90)
