"""Subject editing (BLIP-Diffusion, arXiv 2305.14720, Sec. 4.3): prompt-to-prompt, generated or real images.

A source image of ``a {source class} {prompt}`` and a target image of the same prompt with the
subject's vectors spliced in are denoised side by side from the same noise; attention control
(``attention_control.py``) makes the target keep the source's layout, and the local blend keeps
it equal to the source outside the source class word's attention. A real image is first inverted
into that noise with DDIM (``inversion.py``); the source row then reconstructs it.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers import SchedulerMixin
from diffusers.utils import BaseOutput

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.attention_control import (
    AttentionEditConfig,
    AttentionEditor,
    TokenMap,
    attention_editing,
)
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline, ImageInput, SubjectInput
from blip_diffusion.pipelines.inversion import Inversion, ddim_invert, ddim_schedulers, optimise_null_text
from blip_diffusion.pipelines.prompt_to_prompt import build_token_map, with_placeholders
from blip_diffusion.utils.images import load_image, to_rgb

logger = logging.getLogger(__name__)

# The starting latents (2, C, h, w), the sampler, the rows' guidance scales and the inversion (real images).
Start = tuple[torch.Tensor, SchedulerMixin, tuple[float, float], Inversion | None]


@dataclass
class EditOutput(BaseOutput):
    """One edit, images in the requested output type (one image each).

    source_images: the generated source image, or the reconstruction of the real image;
    edited_images: the subject edit; mask: (1, 1, h, w) 0/1 local-blend mask at latent resolution
    (None without blend); source_latents, edited_latents: (1, C, h, w) final latents;
    inversion: the real image's DDIM inversion (None for generated images).
    """

    source_images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    edited_images: list[PIL.Image.Image] | np.ndarray | torch.Tensor
    mask: torch.Tensor | None
    source_latents: torch.Tensor
    edited_latents: torch.Tensor
    inversion: Inversion | None = None

    def reconstruction_error(self) -> float:
        """||z_rec - z_0|| / ||z_0||: the reconstruction's latents against the real image's."""
        if self.inversion is None:
            raise ValueError("a generated source has no real image to compare with")
        image_latents = self.inversion.image_latents.float()
        return ((self.source_latents.float() - image_latents).norm() / image_latents.norm()).item()


@dataclass(frozen=True)
class EditPrompts:
    """``a {source_class} {prompt}`` becomes ``a [subject] {target_class} {target_prompt}``."""

    prompt: str
    target_prompt: str
    source_class: str
    target_class: str
    prompt_strength: float = 1.0
    prompt_reps: int = 1  # the original edits with one repetition (generation uses 20)

    def texts(self) -> tuple[str, str]:
        """The source and the target prompt, built as in generation."""
        build = BlipDiffusionPipeline.build_prompt
        return (build(self.prompt, self.source_class, self.prompt_strength, self.prompt_reps),
                build(self.target_prompt, self.target_class, self.prompt_strength, self.prompt_reps))


class BlipDiffusionEditPipeline(BlipDiffusionPipeline):
    """:class:`BlipDiffusionPipeline` plus subject editing of generated images and of real images."""

    @classmethod
    def from_pipeline(cls, pipe: BlipDiffusionPipeline) -> BlipDiffusionEditPipeline:
        """The editing pipeline on the same (shared, not copied) components."""
        return cls(**pipe.saved_components(), qformer_tokenizer=pipe.qformer_tokenizer,
                   ctx_begin_pos=pipe.ctx_begin_pos, name_or_path=pipe.model_name)

    # ------------------------------------------------------------------ prompts
    def edit_conditioning(
        self, prompts: EditPrompts, subject_embeds: torch.Tensor,
    ) -> tuple[torch.Tensor, TokenMap]:
        """Text conditioning (2, L, D), [source without subject; target with ``subject_embeds``
        (1, Q, D)], and the alignment of the target's tokens with the source's."""
        length = self.text_encoder.config.max_position_embeddings
        num_subject = subject_embeds.shape[1]
        source, target = prompts.texts()
        # The source has no subject: all L tokens are text, encoded like a negative prompt.
        cond = torch.cat([self.encode_negative_prompt([source]),
                          self.encode_prompt([target], subject_embeds)])
        source_ids = self._tokenize([source], length)[0].tolist()
        target_ids = with_placeholders(self._tokenize([target], length - num_subject)[0].tolist(),
                                       self.ctx_begin_pos, num_subject)
        start = 1 + len(self._words(f"a {prompts.source_class}"))  # after the start token, "a", the class
        context = (start, min(start + len(self._words(prompts.prompt)), length))
        tokens = build_token_map(source_ids, target_ids, self._words(prompts.source_class), context)
        return cond.to(self.unet.dtype), tokens

    def _words(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False).input_ids

    def _edit_prompts(
        self, prompt: str, target_prompt: str | None, subject: SubjectInput,
        source_subject_category: str | None, target_subject_category: str | None, source_class: str | None,
        weights: Sequence[float] | None, background: tuple[int, int, int] | None, prompt_strength: float,
        prompt_reps: int,
    ) -> tuple[EditPrompts, torch.Tensor]:
        """Check the edit's texts; subject embeddings (1, Q, D) from the reference images."""
        _check_text("prompt", prompt)
        for name, value in (("target_prompt", target_prompt), ("source_class", source_class)):
            if value is not None:
                _check_text(name, value)
        if prompt_reps < 1 or int(prompt_strength * prompt_reps) < 1:
            raise InputError("prompt_strength * prompt_reps must be at least 1, "
                             f"got {prompt_strength} * {prompt_reps}")
        embeds, category = self.prepare_subject_embeds(subject, source_subject_category, weights, 1,
                                                       background)
        target_class = target_subject_category or category
        if not target_class:
            raise InputError("target_subject_category is required when the subject's class is unknown")
        source_class = (source_class or category or target_class).strip()
        prompts = EditPrompts(prompt.strip(), (target_prompt or prompt).strip(), source_class, target_class,
                              prompt_strength, prompt_reps)
        return prompts, embeds

    # ------------------------------------------------------------------ denoising side by side
    def denoise_edit(
        self, latents: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor | list[torch.Tensor],
        guidance: tuple[float, float], scheduler: SchedulerMixin, editor: AttentionEditor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """latents (2, C, h, w) and cond (2, L, D), rows [source; target] -> final latents (2, C, h, w).

        ``uncond``: (1, L, D), or one per step (null-text); ``guidance``: the source's and the
        target's scales (a row with scale <= 1 uses its conditional prediction only).
        """
        guided = [row for row in (0, 1) if guidance[row] > 1.0]
        stochastic = "generator" in inspect.signature(scheduler.step).parameters
        step_kwargs = {"generator": generator} if stochastic else {}
        with attention_editing(self.unet, editor):
            for i, t in enumerate(self.progress_bar(scheduler.timesteps)):
                editor.step = i
                null = uncond[i] if isinstance(uncond, list) else uncond
                # Unconditional rows first: the editor works on the last two rows, [source; target].
                model_input = scheduler.scale_model_input(torch.cat([latents[guided], latents]), t)
                context = torch.cat([null.expand(len(guided), -1, -1), cond])
                noise = self.unet(model_input, t, encoder_hidden_states=context).sample
                noise = _guide(noise, guided, guidance)
                latents = editor.blend(scheduler.step(noise, t, latents, **step_kwargs).prev_sample)
        return latents

    # ------------------------------------------------------------------ the edit
    @torch.no_grad()
    def edit(
        self,
        prompt: str,
        reference_image: SubjectInput,
        source_subject_category: str | None = None,
        target_subject_category: str | None = None,
        source_class: str | None = None,
        target_prompt: str | None = None,
        image: ImageInput | None = None,
        attention: AttentionEditConfig | None = None,
        guidance_scale: float = 7.5,
        num_inference_steps: int = 50,
        height: int | None = None,
        width: int | None = None,
        negative_prompt: str = "",
        prompt_strength: float = 1.0,
        prompt_reps: int = 1,
        null_text: bool = False,
        null_text_steps: int = 10,
        latents: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        output_type: str = "pil",
        reference_weights: Sequence[float] | None = None,
        reference_background: tuple[int, int, int] | None = None,
    ) -> EditOutput:
        """Edit the reference subject into a generated image, or into the real ``image``.

        The source is ``a {source_class} {prompt}`` (``source_class`` defaults to the subject's
        class); the edit is ``a [subject] {target_subject_category} {target_prompt}`` (defaults:
        the subject's class and ``prompt``). The subject comes from ``reference_image`` with
        ``source_subject_category``, as in generation. ``attention``: the prompt-to-prompt
        settings (default: the original's).

        Without ``image`` both rows start from the same noise (``latents`` (1, C, h, w), or drawn
        with ``generator``; the pipeline's ``default_size`` by default) and the pipeline's scheduler samples both with
        guidance. With ``image`` (used at its own size unless ``height`` and ``width`` are given)
        the image is inverted with DDIM (guidance 1, no subject) and the source row reconstructs
        it, with guidance 1, or with ``guidance_scale`` and fitted null-text embeddings if
        ``null_text``; the edit is guided with ``guidance_scale``.
        """
        # 1. Check inputs and read the real image
        pixels = None if image is None else self.prepare_image(image, height, width)
        if pixels is None:
            height, width = height or self.default_size, width or self.default_size
        else:
            height, width = tuple(pixels.shape[-2:])
        self.check_inputs(prompt, None, None, negative_prompt, height, width, num_inference_steps,
                          output_type)
        attention = attention or AttentionEditConfig()
        attention.validate()
        _check_real_image_options(pixels is not None, null_text, latents)
        # 2. Subject embeddings and the edit's texts
        prompts, embeds = self._edit_prompts(prompt, target_prompt, reference_image, source_subject_category,
                                             target_subject_category, source_class, reference_weights,
                                             reference_background, prompt_strength, prompt_reps)
        # 3. Text conditioning [source; target], the token alignment and the unconditional embedding
        cond, tokens = self.edit_conditioning(prompts, embeds)
        uncond = self.encode_negative_prompt([negative_prompt]).to(self.unet.dtype)
        # 4. The starting noise: fresh and shared by both rows, or the real image's DDIM inversion
        if pixels is None:
            start = self._generated_start(num_inference_steps, height, width, guidance_scale, generator,
                                          latents)
        else:
            start = self._inverted_start(pixels, cond[:1], uncond, num_inference_steps, guidance_scale,
                                         null_text, null_text_steps)
        latents, scheduler, guidance, inversion = start
        # 5. Denoise the source and the edit side by side
        editor = AttentionEditor(attention, tokens, len(scheduler.timesteps), tuple(latents.shape[-2:]))
        nulls = inversion.null_embeds if inversion is not None and inversion.null_embeds else uncond
        latents = self.denoise_edit(latents, cond, nulls, guidance, scheduler, editor, generator)
        # 6. Decode
        images = self.decode_latents(latents, output_type)
        self.maybe_free_model_hooks()
        return EditOutput(source_images=images[:1], edited_images=images[1:], mask=editor.mask(),
                          source_latents=latents[:1], edited_latents=latents[1:], inversion=inversion)

    def _generated_start(
        self, num_steps: int, height: int, width: int, guidance_scale: float,
        generator: torch.Generator | None, latents: torch.Tensor | None,
    ) -> Start:
        """One initial noise (2, C, h, w) for both rows, the pipeline's scheduler, both rows guided."""
        self.scheduler.set_timesteps(num_steps, device=self._execution_device)
        latents = self.prepare_latents(1, height, width, self.unet.dtype, generator, latents)
        return latents.repeat(2, 1, 1, 1), self.scheduler, (guidance_scale, guidance_scale), None

    def _inverted_start(
        self, pixels: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, num_steps: int,
        guidance_scale: float, null_text: bool, null_text_steps: int,
    ) -> Start:
        """The inverted noise (2, C, h, w) for both rows and a DDIM sampler. The source row is guided
        only with null-text embeddings: the inversion itself used guidance 1."""
        inversion, sampler = self._invert(pixels, cond, uncond, num_steps, null_text, guidance_scale,
                                          null_text_steps)
        guidance = (guidance_scale if null_text else 1.0, guidance_scale)
        return inversion.noise_latents.repeat(2, 1, 1, 1), sampler, guidance, inversion

    # ------------------------------------------------------------------ real images
    def prepare_image(
        self, image: ImageInput, height: int | None = None, width: int | None = None,
    ) -> torch.Tensor:
        """A real image -> pixels (1, 3, H, W) in [-1, 1]; resized and centre-cropped to
        ``height`` x ``width`` if they are given."""
        image = to_rgb(load_image(image) if isinstance(image, (str, os.PathLike)) else image)
        if (height is None) != (width is None):
            raise InputError(f"give both height and width to resize the image, or neither; "
                             f"got {height} x {width}")
        factor = self.vae_scale_factor
        if height is None and (image.width % factor or image.height % factor):
            raise InputError(f"image: {image.width}x{image.height} pixels, but each side must be a multiple "
                             f"of {factor} (the VAE's scale factor); give height and width to resize and "
                             "crop it")
        if height is not None and (height <= 0 or width <= 0 or height % factor or width % factor):
            raise InputError(f"height and width must be positive multiples of {factor}, "
                             f"got {height} x {width}")
        pixels = self.output_processor.preprocess(image, height=height, width=width, resize_mode="crop")
        return pixels.to(self._execution_device, self.vae.dtype)

    @torch.no_grad()
    def invert(
        self, image: ImageInput, prompt: str, source_class: str, num_inference_steps: int = 50,
        height: int | None = None, width: int | None = None, null_text: bool = False,
        guidance_scale: float = 7.5, negative_prompt: str = "", null_text_steps: int = 10,
    ) -> Inversion:
        """DDIM inversion of a real image described by ``a {source_class} {prompt}`` (no subject,
        guidance 1), the first step of editing it. With ``null_text`` the unconditional embeddings
        (initialised from ``negative_prompt``) are fitted so that sampling with ``guidance_scale``
        reconstructs the image.
        """
        _check_text("prompt", prompt)
        _check_text("source_class", source_class)
        pixels = self.prepare_image(image, height, width)
        prompt, source_class = prompt.strip(), source_class.strip()
        source, _ = EditPrompts(prompt, prompt, source_class, source_class).texts()
        cond = self.encode_negative_prompt([source]).to(self.unet.dtype)  # no subject, like a negative prompt
        uncond = self.encode_negative_prompt([negative_prompt]).to(self.unet.dtype)
        inversion, _ = self._invert(pixels, cond, uncond, num_inference_steps, null_text, guidance_scale,
                                    null_text_steps)
        return inversion

    def _invert(
        self, pixels: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor, num_steps: int, null_text: bool,
        guidance_scale: float, null_text_steps: int,
    ) -> tuple[Inversion, SchedulerMixin]:
        """pixels (1, 3, H, W), source conditioning and unconditional embedding (1, L, D) -> the
        inversion and its DDIM sampler."""
        train_steps = self.scheduler.config.num_train_timesteps
        if not 1 <= num_steps <= train_steps:
            raise InputError(f"num_inference_steps must be in 1..{train_steps} for DDIM inversion, "
                             f"got {num_steps}")
        if null_text and guidance_scale <= 1.0:
            raise InputError(f"null_text needs guidance_scale > 1 (got {guidance_scale}): "
                             "at guidance 1 the plain DDIM reconstruction is already the target")
        if null_text and null_text_steps < 1:
            raise InputError(f"null_text_steps must be at least 1, got {null_text_steps}")
        image_latents = self.vae.encode(pixels).latent_dist.mode() * self.vae.config.scaling_factor
        image_latents = image_latents.to(self.unet.dtype)
        sampler, inverse = ddim_schedulers(self.scheduler.config, num_steps, self._execution_device)
        trajectory = ddim_invert(self.unet, inverse, image_latents, cond)
        nulls = None
        if null_text:
            nulls = optimise_null_text(self.unet, sampler, trajectory, cond, uncond, guidance_scale,
                                       null_text_steps)
        return Inversion(image_latents, trajectory, nulls), sampler


def _guide(noise: torch.Tensor, guided: list[int], guidance: tuple[float, float]) -> torch.Tensor:
    """noise (G + 2, C, h, w): one unconditional row per guided row, then [source; target] -> (2, C, h, w)."""
    rows = list(noise[-2:])
    for k, row in enumerate(guided):
        rows[row] = noise[k] + guidance[row] * (rows[row] - noise[k])
    return torch.stack(rows)


def _check_text(name: str, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be one non-empty text (one edit per call), got {value!r}")


def _check_real_image_options(real: bool, null_text: bool, latents: torch.Tensor | None) -> None:
    if null_text and not real:
        raise InputError("null_text needs a real image: only a real image's reconstruction is fitted")
    if real and latents is not None:
        raise InputError("latents cannot be given with image: a real image's noise comes from its inversion")
