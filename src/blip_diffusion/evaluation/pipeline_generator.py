"""The :data:`ImageGenerator` for BLIP-Diffusion: ``BlipDiffusionPipeline`` behind the harness interface.

Each subject's photos are encoded once (embeddings averaged over all photos, with the subject's class
word); every image gets its own CPU generator seeded from its request, so an image does not depend
on which other images share its batch or its process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from blip_diffusion.evaluation.dreambench import CLASS_PLACEHOLDER
from blip_diffusion.evaluation.worklist import GenerationRequest

if TYPE_CHECKING:
    from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
    from blip_diffusion.pipelines.subjects import SubjectEmbedding

logger = logging.getLogger(__name__)

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class GenerationSettings:
    """The sampling settings of every image in a run (the pipeline's own defaults)."""

    num_inference_steps: int = 50
    guidance_scale: float = 7.5
    height: int = 512
    width: int = 512
    negative_prompt: str = ""
    scheduler: str = "pndm"
    feature_cache: int = 0  # approximate mode: the whole UNet every N steps (pipe.enable_feature_cache); 0: off


def pipeline_prompt(pattern: str, class_word: str) -> tuple[str, str]:
    """Split a DreamBench prompt into the pipeline's ``(target_subject_category, prompt)``.

    The pipeline writes ``"a {target} {prompt}"`` with the subject embeddings right after "a", and
    needs a non-empty prompt, so ``"a {class} in the jungle"`` -> ``("dog", "in the jungle")`` and
    ``"a red {class}"`` -> ``("red", "dog")``: either way the text is the DreamBench prompt.
    """
    if not pattern.startswith("a ") or CLASS_PLACEHOLDER not in pattern:
        raise ValueError(f"prompt {pattern!r} is not of the form 'a ... {CLASS_PLACEHOLDER} ...'")
    before, after = (part.strip() for part in pattern[len("a ") :].split(CLASS_PLACEHOLDER, 1))
    if after:
        return f"{before} {class_word}".strip(), after
    return before, class_word


def load_pipeline(
    model: str,
    settings: GenerationSettings,
    qformer_tokenizer: str | None = None,
    dtype: str = "float32",
    device: torch.device | str = "cpu",
) -> BlipDiffusionPipeline:
    """``model`` (folder or Hub id) with ``settings.scheduler`` (and feature cache), on ``device`` in ``dtype``, quiet."""
    from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
    from blip_diffusion.pipelines.schedulers import make_scheduler

    pipe = BlipDiffusionPipeline.from_pretrained(
        model, qformer_tokenizer=qformer_tokenizer, torch_dtype=DTYPES[dtype]
    )
    pipe.scheduler = make_scheduler(settings.scheduler, pipe.scheduler.config)
    if settings.feature_cache:
        pipe.enable_feature_cache(settings.feature_cache)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class PipelineGenerator:
    """Generates the images of a group of requests (one subject and prompt) in one pipeline call."""

    def __init__(
        self, pipe: BlipDiffusionPipeline, photos: Mapping[str, Sequence[Path]], settings: GenerationSettings
    ):
        self.pipe = pipe
        self.photos = photos
        self.settings = settings
        self._subject: tuple[str, SubjectEmbedding] | None = None  # the last subject's name and embeddings

    @classmethod
    def from_pretrained(
        cls,
        model: str,
        photos: Mapping[str, Sequence[Path]],
        settings: GenerationSettings,
        qformer_tokenizer: str | None = None,
        dtype: str = "float32",
        device: torch.device | str = "cpu",
    ) -> PipelineGenerator:
        """Load ``model`` (folder or Hub id) with ``settings.scheduler`` on ``device`` in ``dtype``."""
        return cls(load_pipeline(model, settings, qformer_tokenizer, dtype, device), photos, settings)

    def _subject_embeddings(self, subject: str, class_word: str) -> SubjectEmbedding:
        if self._subject is None or self._subject[0] != subject:
            self._subject = (subject, self.prepare_subject(subject, class_word))
        return self._subject[1]

    def prepare_subject(self, subject: str, class_word: str) -> SubjectEmbedding:
        """The subject's embeddings: its photos encoded and averaged (once per subject)."""
        logger.info("encoding subject %s from %d photos", subject, len(self.photos[subject]))
        return self.pipe.encode_subject(list(self.photos[subject]), class_word)

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        first = requests[0]
        if any((r.subject, r.prompt) != (first.subject, first.prompt) for r in requests):
            raise ValueError("one pipeline call takes the samples of one subject and prompt")
        target, prompt = pipeline_prompt(first.prompt.pattern, first.class_word)
        settings = self.settings
        return self.pipe(
            prompt=[prompt] * len(requests),
            reference_image=self._subject_embeddings(first.subject, first.class_word),
            source_subject_category=first.class_word,
            target_subject_category=target,
            guidance_scale=settings.guidance_scale,
            num_inference_steps=settings.num_inference_steps,
            height=settings.height,
            width=settings.width,
            negative_prompt=settings.negative_prompt,
            generator=[torch.Generator("cpu").manual_seed(r.seed) for r in requests],
        ).images


def draw_from_text(
    pipe: Any, texts: Sequence[str], requests: Sequence[GenerationRequest], settings: GenerationSettings
) -> list[Image.Image]:
    """One picture per request from a diffusers text-to-image pipeline (``StableDiffusionPipeline``),
    prompted with ``texts``; each with its own CPU generator seeded from its request."""
    return list(
        pipe(
            prompt=list(texts),
            negative_prompt=[settings.negative_prompt] * len(requests),
            guidance_scale=settings.guidance_scale,
            num_inference_steps=settings.num_inference_steps,
            height=settings.height,
            width=settings.width,
            generator=[torch.Generator("cpu").manual_seed(r.seed) for r in requests],
            output_type="pil",
        ).images
    )
