"""Generators for fine-tuned rows: each subject is fine-tuned once on its reference photos, timed, then
drawn with its fine-tuned weights.

- :class:`FinetunedPipelineGenerator`: BLIP-Diffusion fine-tuned on the subject (Sec. 3.4: LoRA and
  the subject embedding), then prompted like the zero-shot row.
- :class:`DreamBoothGenerator`: the DreamBooth-style baseline: a text-to-image model's UNet fine-tuned
  on ``a sks {class}``, then prompted with ``sks`` before the class word.

Fine-tuned subjects live in ``<tuned>/<subject>/`` (the folders ``blip-diffusion finetune`` writes);
``timing.json`` next to them records the wall time of each fine-tuning, so a resumed run keeps both.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.pipeline_generator import (
    DTYPES,
    GenerationSettings,
    PipelineGenerator,
    draw_from_text,
    load_pipeline,
)
from blip_diffusion.evaluation.worklist import GenerationRequest
from blip_diffusion.models.loading import load_strict, read_state_dict
from blip_diffusion.pipelines.finetuned_subject import (
    FINETUNE_FILE,
    FULL_UNET_FOLDER,
    LORA_FILE,
    read_finetune_info,
)
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)

TIMING_FILE = "timing.json"
DREAMBOOTH_TOKEN = "sks"
METHODS = ("blip-diffusion", "dreambooth")


@dataclasses.dataclass(frozen=True)
class FinetuneSettings:
    """How each subject is fine-tuned before its pictures are drawn (``steps`` 0: not at all)."""

    steps: int = 0
    method: str = "blip-diffusion"  # or "dreambooth": the model is then a text-to-image folder
    lora_rank: int = 4  # 0: the whole UNet
    learning_rate: float = 0.0  # 0: the trainer's default
    prompt_reps: int = 1  # copies of the fine-tuning caption (BLIP-Diffusion only)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"fine-tuning method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.steps < 0 or self.lora_rank < 0 or self.prompt_reps < 1:
            raise InputError(
                f"fine-tuning needs steps >= 0, LoRA rank >= 0 and prompt reps >= 1; got {self.steps}, "
                f"{self.lora_rank}, {self.prompt_reps}"
            )


@dataclasses.dataclass(frozen=True)
class SubjectTuner:
    """Fine-tunes subjects into ``folder/<subject>`` with the settings of ``template`` (a
    :class:`~blip_diffusion.training.finetune.FinetuneConfig` whose subject, class and output are
    filled in per subject)."""

    folder: Path
    template: Any  # FinetuneConfig; typed loosely so that importing this module does not need peft

    def tuned(self, subject: str, class_word: str, photos: Sequence[Path]) -> Path:
        """The subject's fine-tuned folder, fine-tuning it first unless that was done before."""
        from blip_diffusion.training.finetune import finetune

        out = Path(self.folder) / subject
        if (out / FINETUNE_FILE).is_file() and (out / TIMING_FILE).is_file():
            return out
        config = dataclasses.replace(
            self.template, subject=tuple(str(p) for p in photos), subject_class=class_word, out=str(out)
        )
        logger.info("fine-tuning %s for %d steps (%s)", subject, config.run.max_steps, config.method)
        started = time.perf_counter()
        finetune(config, resume=(out / "checkpoints").is_dir())
        seconds = time.perf_counter() - started
        with atomic_path(out / TIMING_FILE) as tmp:
            tmp.write_text(json.dumps({"seconds": seconds, "steps": config.run.max_steps}) + "\n")
        return out

    def mean_seconds(self) -> float | None:
        return mean_finetune_seconds(self.folder)


def mean_finetune_seconds(folder: Path) -> float | None:
    """Mean fine-tuning wall time of the subjects fine-tuned in ``folder`` so far (None before the first)."""
    times = [json.loads(p.read_text())["seconds"] for p in sorted(Path(folder).glob(f"*/{TIMING_FILE}"))]
    return sum(times) / len(times) if times else None


def subject_tuner(
    settings: FinetuneSettings, model: str, folder: Path, qformer_tokenizer: str | None = None, seed: int = 0
) -> SubjectTuner:
    """A :class:`SubjectTuner` fine-tuning ``model`` as ``settings`` say, into ``folder/<subject>``."""
    from blip_diffusion.training.finetune import FinetuneConfig

    template = FinetuneConfig(
        model=str(model),
        subject=("-",),  # subject, class and output are filled in per subject
        subject_class="-",
        out="-",
        method=settings.method,
        lora_rank=settings.lora_rank,
        qformer_tokenizer=qformer_tokenizer or "",
        learning_rate=settings.learning_rate,
        prompt_reps=settings.prompt_reps if settings.method == "blip-diffusion" else 1,
        run=dataclasses.replace(FinetuneConfig.run, max_steps=settings.steps, seed=seed),
    )
    return SubjectTuner(Path(folder), template)


def load_text_to_image(
    model: str, settings: GenerationSettings, dtype: str = "float32", device: torch.device | str = "cpu"
) -> Any:
    """A diffusers text-to-image pipeline (e.g. ``StableDiffusionPipeline``) with ``settings.scheduler``."""
    from diffusers import DiffusionPipeline

    from blip_diffusion.pipelines.schedulers import make_scheduler

    if not Path(model).is_dir():
        raise InputError(f"text-to-image model {model!r} is not a folder; expected a diffusers model folder")
    pipe = DiffusionPipeline.from_pretrained(model, torch_dtype=DTYPES[dtype])
    pipe.scheduler = make_scheduler(settings.scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def finetuned_generator(
    tuner: SubjectTuner,
    photos: Mapping[str, Sequence[Path]],
    settings: GenerationSettings,
    qformer_tokenizer: str | None = None,
    dtype: str = "float32",
    device: torch.device | str = "cpu",
) -> FinetunedPipelineGenerator | DreamBoothGenerator:
    """The generator of a fine-tuned row, on a freshly loaded pipeline (fine-tuned weights go into it)."""
    model = tuner.template.model
    if tuner.template.method == "dreambooth":
        return DreamBoothGenerator(
            load_text_to_image(model, settings, dtype, device), photos, settings, tuner
        )
    pipe = load_pipeline(model, settings, qformer_tokenizer, dtype, device)
    return FinetunedPipelineGenerator(pipe, photos, settings, tuner)


class FinetunedPipelineGenerator(PipelineGenerator):
    """:class:`PipelineGenerator` whose subject embeddings (and UNet LoRA) come from fine-tuning."""

    def __init__(
        self,
        pipe: Any,
        photos: Mapping[str, Sequence[Path]],
        settings: GenerationSettings,
        tuner: SubjectTuner,
    ):
        super().__init__(pipe, photos, settings)
        self.tuner = tuner

    def prepare_subject(self, subject: str, class_word: str) -> Any:
        """Fine-tune on the subject (once), put its UNet weights into the pipeline, return its embeddings."""
        return self.pipe.load_subject(self.tuner.tuned(subject, class_word, self.photos[subject]))


def dreambooth_text(request: GenerationRequest) -> str:
    """The request's prompt with the identifier before the class word: ``a sks dog on the beach``."""
    return request.prompt.format(f"{DREAMBOOTH_TOKEN} {request.class_word}")


class DreamBoothGenerator:
    """A text-to-image pipeline (diffusers ``StableDiffusionPipeline``) with each subject's UNet LoRA
    from DreamBooth-style fine-tuning; never sees the reference photos at generation time."""

    def __init__(
        self,
        pipe: Any,
        photos: Mapping[str, Sequence[Path]],
        settings: GenerationSettings,
        tuner: SubjectTuner,
    ):
        self.pipe, self.photos, self.settings, self.tuner = pipe, photos, settings, tuner
        self._loaded: str | None = None

    def _load(self, subject: str, class_word: str) -> None:
        if self._loaded == subject:
            return
        folder = self.tuner.tuned(subject, class_word, self.photos[subject])
        if read_finetune_info(folder).get("lora_rank", 0) > 0:
            if self._loaded is not None:
                self.pipe.unload_lora_weights()
            self.pipe.load_lora_weights(str(folder), weight_name=LORA_FILE)
        else:  # the whole UNet: it replaces the previous subject's entirely
            unet = self.pipe.unet
            load_strict(
                unet, read_state_dict(folder / FULL_UNET_FOLDER, unet.dtype), str(folder / FULL_UNET_FOLDER)
            )
        self._loaded = subject

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        first = requests[0]
        self._load(first.subject, first.class_word)
        return draw_from_text(self.pipe, [dreambooth_text(r) for r in requests], requests, self.settings)
