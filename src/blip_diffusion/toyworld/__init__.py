"""The toy world: a synthetic subject-driven world small enough to train BLIP-Diffusion on a CPU,
measured exactly by ToyBench (see docs/toyworld.md).

Modules, from the world to its benchmark: ``subjects`` (classes and identity attributes, the
held-out split), ``shapes`` and ``render`` (drawing a subject with exact alpha), ``backgrounds`` and
``scenes`` (24 scenes, prompts, captions), ``photos`` (a subject in a scene), ``datasets`` and
``export`` (training data), ``benchset`` (ToyBench subjects, prompts and ground truth), ``oracle``
and ``oracle_training`` (the attribute reader), ``metrics``, ``bench``, ``adapters`` and
``bench_report`` (running and reporting ToyBench), ``examples`` (sheets for the documentation).
"""

from blip_diffusion.toyworld.benchset import BenchSubject, bench_prompts, bench_subjects, truth_photo
from blip_diffusion.toyworld.datasets import BackgroundPool, CaptionDataset, SubjectDataset, SubjectSample
from blip_diffusion.toyworld.photos import Photo, random_photo, render_photo
from blip_diffusion.toyworld.render import Lighting, Pose
from blip_diffusion.toyworld.scenes import SCENE_NAMES, Prompt, caption
from blip_diffusion.toyworld.subjects import CLASSES, COLOURS, FINISHES, PATTERNS, SIZES, Subject, is_held_out

__all__ = [
    "CLASSES",
    "COLOURS",
    "FINISHES",
    "PATTERNS",
    "SCENE_NAMES",
    "SIZES",
    "BackgroundPool",
    "BenchSubject",
    "CaptionDataset",
    "Lighting",
    "Photo",
    "Pose",
    "Prompt",
    "Subject",
    "SubjectDataset",
    "SubjectSample",
    "bench_prompts",
    "bench_subjects",
    "caption",
    "is_held_out",
    "random_photo",
    "render_photo",
    "truth_photo",
]
