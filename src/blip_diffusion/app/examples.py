"""Example inputs: DreamBench photos shipped in assets/, and ToyBench subjects rendered on the spot."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from blip_diffusion.toyworld.benchset import bench_prompts, bench_subjects
from blip_diffusion.toyworld.scenes import CLASS_SLOT

DREAMBENCH = (  # (subject folder, class word, prompt)
    ("dog", "dog", "on the beach"),
    ("cat", "cat", "in the snow"),
    ("teapot", "teapot", "on top of a wooden floor"),
)
PHOTOS_PER_EXAMPLE = 3
TOY_SUBJECTS = 3
TOY_RESOLUTION = 128


def dreambench_examples(folder: Path) -> list[list]:
    """Rows of (photo paths, class word, prompt) from ``assets/dreambench``."""
    return [[[str(p) for p in sorted((folder / name).glob("*.jpg"))[:PHOTOS_PER_EXAMPLE]], word, prompt]
            for name, word, prompt in DREAMBENCH]


def toyworld_examples(folder: Path) -> list[list]:
    """Rows of (photo paths, class word, prompt) for the first ToyBench subjects, their reference
    photos written into ``folder`` as PNGs; each asks for one of the subject's context prompts."""
    rows = []
    for number, bench in enumerate(bench_subjects(TOY_SUBJECTS, TOY_RESOLUTION)):
        paths = []
        for i, photo in enumerate(bench.references[:PHOTOS_PER_EXAMPLE]):
            path = folder / bench.name / f"{i:02d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(photo.image).save(path)
            paths.append(str(path))
        context = [p for p in bench_prompts(bench.subject) if p.kind == "context"][number * 5]
        rows.append([paths, bench.subject.class_name, context.pattern.removeprefix(f"a {CLASS_SLOT} ")])
    return rows
