"""ToyBench runs: generate every (subject, prompt, sample) of each row, read them with the oracle,
score and report.

Generation goes through the project's evaluation harness: requests, seeds and output paths from
:mod:`blip_diffusion.evaluation.worklist`, resumable writing from
:func:`blip_diffusion.evaluation.generation.generate_missing` (existing images are kept and skipped),
and any :data:`~blip_diffusion.evaluation.generation.ImageGenerator` draws the pictures: the
ground-truth renderer and the text-only adapter of :mod:`blip_diffusion.toyworld.adapters`, or
:class:`~blip_diffusion.evaluation.pipeline_generator.PipelineGenerator` for BLIP-Diffusion.
Each row lives in its own folder ``<out>/<row>/``; the reference photos in ``<out>/references/``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from blip_diffusion.evaluation.dreambench import Prompt as BenchPrompt
from blip_diffusion.evaluation.dreambench import Subject as HarnessSubject
from blip_diffusion.evaluation.finetuned_generators import SubjectTuner
from blip_diffusion.evaluation.generation import ImageGenerator, generate_missing
from blip_diffusion.evaluation.pipeline_generator import GenerationSettings
from blip_diffusion.evaluation.runner import EvalConfig, prepare_output
from blip_diffusion.evaluation.worklist import GenerationRequest, build_requests, image_path
from blip_diffusion.toyworld.bench_report import build_report, write_grids, write_report
from blip_diffusion.toyworld.benchset import BenchSubject, bench_prompts, bench_subjects
from blip_diffusion.toyworld.metrics import Expectation, ImageScore, score_image
from blip_diffusion.toyworld.oracle import Oracle, read
from blip_diffusion.toyworld.scenes import Prompt
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

REFERENCES_DIR = "references"
# Row names, also their folders under the output folder.
GROUND_TRUTH, MODEL, CLASS_ONLY, FULL_CAPTION = "ground_truth", "blip_diffusion", "class_only", "full_caption"
GROUND_TRUTH_VAE = "ground_truth_vae"


@dataclasses.dataclass(frozen=True, eq=False)
class ToyBench:
    """The selected ToyBench subjects, their photos on disk and the requests of every row."""

    members: dict[str, BenchSubject]  # by name, in ToyBench order
    subjects: tuple[HarnessSubject, ...]  # the harness's view: reference photo paths and prompt patterns
    requests: tuple[GenerationRequest, ...]
    seed: int  # base seed of the requests

    def member(self, name: str) -> BenchSubject:
        return self.members[name]

    def prompt(self, request: GenerationRequest) -> Prompt:
        return bench_prompts(self.member(request.subject).subject)[request.prompt.index]

    @property
    def photos(self) -> dict[str, tuple[Path, ...]]:
        """Reference photo paths per subject name (what PipelineGenerator takes)."""
        return {subject.name: subject.images for subject in self.subjects}


def prepare_bench(out: Path, subjects: int, samples_per_prompt: int, seed: int, resolution: int) -> ToyBench:
    """Select the first ``subjects`` ToyBench subjects, write their reference photos (if missing)
    under ``out/references`` and list the requests."""
    members = bench_subjects(subjects, resolution)
    harness = []
    for member in members:
        paths = []
        for number, photo in enumerate(member.references):
            path = Path(out) / REFERENCES_DIR / member.name / f"{number:02d}.png"
            if not path.is_file():
                with atomic_path(path) as tmp:
                    photo.pil().save(tmp, format="PNG")
            paths.append(path)
        prompts = tuple(
            BenchPrompt(index, prompt.pattern) for index, prompt in enumerate(bench_prompts(member.subject))
        )
        harness.append(HarnessSubject(member.name, member.subject.class_name, tuple(paths), prompts))
    requests = tuple(build_requests(harness, samples_per_prompt, seed))
    return ToyBench({member.name: member for member in members}, tuple(harness), requests, seed)


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of the report: what makes its pictures (recorded; resuming with another is refused)."""

    name: str
    title: str
    make_generator: Callable[[], ImageGenerator]
    model: str
    settings: GenerationSettings
    dtype: str = "float32"
    qformer_tokenizer: str | None = None
    tuner: SubjectTuner | None = None  # fine-tuned rows: where the subjects are fine-tuned (and timed)


def generate_row(bench: ToyBench, row: Row, out: Path, progress: bool = False) -> int:
    """Generate the row's missing pictures into ``out/<row>``; return how many were made."""
    row_dir = Path(out) / row.name
    config = EvalConfig(
        model=row.model,
        data=Path(out) / REFERENCES_DIR,
        out=row_dir,
        seed=bench.seed,
        generation=row.settings,
        dtype=row.dtype,
        qformer_tokenizer=row.qformer_tokenizer,
    )
    prepare_output(config, write=True)
    return generate_missing(bench.requests, row.make_generator, row_dir, progress, description=row.name)


def reference_embeddings(members: Sequence[BenchSubject], oracle: Oracle) -> dict[str, np.ndarray]:
    """The oracle's identity embeddings of each subject's reference photos, (K, D) per name."""
    readings = read(oracle, [photo.image for member in members for photo in member.references])
    out, start = {}, 0
    for member in members:
        out[member.name] = readings.embeddings[start : start + len(member.references)]
        start += len(member.references)
    return out


def score_row(
    bench: ToyBench, row_dir: Path, oracle: Oracle, references: Mapping[str, np.ndarray]
) -> list[ImageScore]:
    """Read every picture of a row with the oracle and score it; in ``bench.requests`` order."""
    images = []
    for request in bench.requests:
        with Image.open(image_path(row_dir, request)) as image:
            images.append(image.convert("RGB"))
    readings = read(oracle, images)
    scores = []
    for index, request in enumerate(bench.requests):
        member = bench.member(request.subject)
        expected = Expectation(
            reference=member.subject,
            prompt=bench.prompt(request),
            reference_scenes=tuple(photo.scene for photo in member.references),
            reference_poses=np.array([[p.pose.cx, p.pose.cy, p.pose.radius] for p in member.references]),
            reference_embeddings=references[request.subject],
        )
        scores.append(
            score_image(readings.words(index), readings.embeddings[index], readings.poses[index], expected)
        )
    return scores


def run_toybench(
    bench: ToyBench,
    rows: Sequence[Row],
    out: Path,
    oracle: Oracle,
    settings: Mapping[str, Any],
    progress: bool = False,
) -> dict[str, Any]:
    """Generate what is missing of every row, score all rows, write the report and the grids."""
    for row in rows:
        generate_row(bench, row, out, progress)
    references = reference_embeddings(list(bench.members.values()), oracle)
    scores = {row.name: score_row(bench, Path(out) / row.name, oracle, references) for row in rows}
    timings = {
        row.name: {
            "finetune_seconds": row.tuner.mean_seconds(),
            "finetune_steps": row.tuner.template.run.max_steps,
        }
        for row in rows
        if row.tuner is not None
    }
    report = build_report(bench, settings, {row.name: row.title for row in rows}, scores, references, timings)
    write_report(report, Path(out))
    for row in rows:
        write_grids(bench, Path(out) / row.name)
    return report
