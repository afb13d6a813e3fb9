"""One DreamBench run: plan the work list, generate one process's shard, then score and report.

Generation is split across processes (``accelerate launch``): each takes every N-th request and
writes its images to the shared output folder. Scoring reads them all back, so it runs once, on the
main process, after every shard is done. ``generation.json`` in the output folder records what the
images were made with; resuming with other settings is refused instead of mixing two runs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.dreambench import Subject, load_subjects
from blip_diffusion.evaluation.encoders import (
    DEFAULT_CLIP_MODEL,
    DEFAULT_DINO_MODEL,
    ClipEncoder,
    DinoEncoder,
)
from blip_diffusion.evaluation.finetuned_generators import (
    FinetuneSettings,
    finetuned_generator,
    mean_finetune_seconds,
    subject_tuner,
)
from blip_diffusion.evaluation.generation import ImageGenerator, generate_missing, missing_requests
from blip_diffusion.evaluation.grids import write_subject_grids
from blip_diffusion.evaluation.pipeline_generator import GenerationSettings, PipelineGenerator
from blip_diffusion.evaluation.plot import PLOT_FILE, write_plot
from blip_diffusion.evaluation.report import build_report, write_report
from blip_diffusion.evaluation.scoring import score_all
from blip_diffusion.evaluation.worklist import GenerationRequest, build_requests, image_path, shard
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

SETTINGS_FILE = "generation.json"


@dataclass(frozen=True)
class EvalConfig:
    """Everything a DreamBench run depends on; the command line's flags map onto these fields."""

    model: str
    data: Path
    out: Path
    qformer_tokenizer: str | None = None
    subjects: tuple[str, ...] = ()  # empty: every subject folder present under ``data``
    images_per_prompt: int = 4
    max_prompts: int | None = None  # None: all 25 prompts of each subject
    seed: int = 0
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    dtype: str = "float32"
    dino_model: str = DEFAULT_DINO_MODEL
    clip_model: str = DEFAULT_CLIP_MODEL
    metric_batch_size: int = 32
    finetune: FinetuneSettings = field(default_factory=FinetuneSettings)  # steps 0: zero-shot

    @property
    def finetuned_dir(self) -> Path:
        """Where the fine-tuned subjects are kept (``<out>/finetuned/<subject>``)."""
        return Path(self.out) / "finetuned"


def plan(config: EvalConfig) -> tuple[list[Subject], list[GenerationRequest]]:
    """The selected subjects and their requests; raises InputError on bad data or selections."""
    subjects = load_subjects(Path(config.data), list(config.subjects) or None)
    return subjects, build_requests(subjects, config.images_per_prompt, config.seed, config.max_prompts)


def _resolved(name: str | None) -> str | None:
    """A local path made absolute (so ./m and m match); a Hub id as is."""
    return str(Path(name).resolve()) if name is not None and Path(name).exists() else name


def generation_fingerprint(config: EvalConfig) -> dict[str, Any]:
    """What every image of the output folder is made with (the work-list selection is not part of it).

    The feature cache is recorded only when on, so folders written before it existed still resume.
    """
    generation = dataclasses.asdict(config.generation)
    if not generation["feature_cache"]:
        del generation["feature_cache"]
    return {
        "model": _resolved(config.model),
        "qformer_tokenizer": _resolved(config.qformer_tokenizer),
        "seed": config.seed,
        "dtype": config.dtype,
        **generation,
        **({"finetune": dataclasses.asdict(config.finetune)} if config.finetune.steps else {}),
    }


def prepare_output(config: EvalConfig, write: bool) -> None:
    """Refuse an output folder made with other settings; record the settings there if ``write``."""
    path = Path(config.out) / SETTINGS_FILE
    expected = generation_fingerprint(config)
    if path.is_file():
        found = json.loads(path.read_text(encoding="utf-8"))
        changed = [
            f"{key}: {found.get(key)!r} there, {value!r} now"
            for key, value in expected.items()
            if found.get(key) != value
        ]
        if changed:
            raise InputError(
                f"{path} records other generation settings ({'; '.join(changed)}); "
                "use another --out folder or the same settings to resume"
            )
    elif write:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")


def generate_shard(
    config: EvalConfig,
    requests: Sequence[GenerationRequest],
    make_generator: Callable[[], ImageGenerator],
    process_index: int = 0,
    num_processes: int = 1,
    progress: bool = False,
) -> int:
    """Generate this process's missing images; return how many were made."""
    mine = shard(requests, process_index, num_processes)
    description = (
        "generating" if num_processes == 1 else f"generating (process {process_index} of {num_processes})"
    )
    return generate_missing(mine, make_generator, Path(config.out), progress, description)


def report_settings(config: EvalConfig) -> dict[str, Any]:
    """The run's settings as they appear in the report."""
    return {
        **generation_fingerprint(config),
        "model": config.model,
        "data": str(config.data),
        "images_per_prompt": config.images_per_prompt,
        "max_prompts": config.max_prompts,
        "dino_model": config.dino_model,
        "clip_model": config.clip_model,
    }


def make_generator(
    config: EvalConfig, photos: Mapping[str, Sequence[Path]], device: torch.device | str
) -> Callable[[], ImageGenerator]:
    """What draws the run's pictures: the model zero-shot, or fine-tuned on each subject first."""
    if not config.finetune.steps:
        return lambda: PipelineGenerator.from_pretrained(
            config.model, photos, config.generation, config.qformer_tokenizer, config.dtype, device
        )
    tuner = subject_tuner(
        config.finetune, config.model, config.finetuned_dir, config.qformer_tokenizer, config.seed
    )
    return lambda: finetuned_generator(
        tuner, photos, config.generation, config.qformer_tokenizer, config.dtype, device
    )


def evaluate(
    config: EvalConfig,
    subjects: Sequence[Subject],
    requests: Sequence[GenerationRequest],
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> dict[str, Any]:
    """Score every generated image and write report.json, report.md, the bar plot and the grids."""
    out = Path(config.out)
    missing = missing_requests(requests, out)
    if missing:
        raise RuntimeError(
            f"{len(missing)} of {len(requests)} images are missing (first: "
            f"{image_path(out, missing[0])}); run again to generate them"
        )
    dino = DinoEncoder.from_pretrained(config.dino_model, device)
    clip = ClipEncoder.from_pretrained(config.clip_model, device)
    scores, real = score_all(subjects, requests, out, dino, clip, config.metric_batch_size, progress)
    settings = report_settings(config)
    if config.finetune.steps:
        settings["finetune_seconds_per_subject"] = mean_finetune_seconds(config.finetuned_dir)
    report = build_report(settings, subjects, scores, real)
    write_report(report, out)
    try:
        write_plot(report, out / PLOT_FILE)
    except ImportError:
        logger.warning("matplotlib is not installed: no %s (pip install matplotlib)", PLOT_FILE)
    write_subject_grids(subjects, requests, out)
    return report
