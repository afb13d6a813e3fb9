"""Subject fine-tuning (BLIP-Diffusion Sec. 3.4) and the DreamBooth-style baseline, on the common loop.

BLIP-Diffusion: the subject's photos are encoded once and their mean embedding becomes a trainable
parameter (no Q-Former pass while fine-tuning); the UNet learns (LoRA by default, or in full) with
the text encoder frozen and the caption ``a {class}``. DreamBooth-style: no subject embedding, the
caption ``a sks {class}``, otherwise the same trainer. The output folder is described in
:mod:`blip_diffusion.pipelines.finetuned_subject`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import extract_model_from_parallel
from diffusers import StableDiffusionPipeline
from diffusers.training_utils import cast_training_params
from torch import nn

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.finetuned_subject import (
    BLIP_METHOD,
    FINETUNE_FILE,
    FULL_UNET_FOLDER,
    LORA_FILE,
    SUBJECT_FILE,
)
from blip_diffusion.pipelines.subjects import SubjectEmbedding
from blip_diffusion.training import loop
from blip_diffusion.training.base_tasks import load_text_to_image_parts
from blip_diffusion.training.batches import Shuffled
from blip_diffusion.training.checkpoint import CHECKPOINTS
from blip_diffusion.training.config import RunConfig, to_dict
from blip_diffusion.training.data import square, unit_pixels
from blip_diffusion.training.diffusion import denoising_loss, training_scheduler
from blip_diffusion.utils.atomic import atomic_path
from blip_diffusion.utils.images import load_image, to_rgb

METHODS = (BLIP_METHOD, "dreambooth")
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class FinetuneConfig:
    model: str = ""  # BLIP-Diffusion folder (or, for dreambooth, any text-to-image folder)
    subject: tuple[str, ...] = ()  # photos of the subject
    subject_class: str = ""
    out: str = ""
    method: str = BLIP_METHOD  # or "dreambooth"
    lora_rank: int = 4  # 0 = train the full UNet
    qformer_tokenizer: str = ""
    learning_rate: float = 0.0  # 0 = 1e-4 with LoRA, 5e-6 (the paper's) for the full UNet
    flip: bool = True  # horizontal flips of the photos
    prompt_reps: int = 1  # copies of the caption, joined by ", " (as stage 2's prompt_reps)
    keep_checkpoints: bool = False
    # A fine-tune takes seconds to minutes: no checkpoints (a real-size one holds the whole UNet and
    # would cost more than the training) unless run.checkpoint_every asks for them.
    run: RunConfig = RunConfig(max_steps=40, batch_size=3, lr_schedule="constant",  # noqa: RUF009 (frozen)
                               weight_decay=0.01, checkpoint_every=0, log_with="none")

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if not self.subject or not self.subject_class.strip() or not self.model or not self.out:
            raise InputError("fine-tuning needs model, subject photos, subject_class and out")
        if self.lora_rank < 0:
            raise InputError(f"lora_rank must be >= 0 (0 = full UNet), got {self.lora_rank}")
        if self.prompt_reps < 1:
            raise InputError(f"prompt_reps must be at least 1, got {self.prompt_reps}")

    @property
    def resolved_learning_rate(self) -> float:
        return self.learning_rate or (1e-4 if self.lora_rank else 5e-6)

    @property
    def caption(self) -> str:
        word = self.subject_class.strip()
        text = f"a {word}" if self.method == BLIP_METHOD else f"a sks {word}"
        return ", ".join([text] * self.prompt_reps)


class SubjectParameter(nn.Module):
    """The subject embeddings (1, Q, D) as a trained parameter."""

    def __init__(self, embeds: torch.Tensor):
        super().__init__()
        self.embeds = nn.Parameter(embeds[None].clone().float())

    def forward(self, batch: int) -> torch.Tensor:
        return self.embeds.expand(batch, -1, -1)


def load_base(config: FinetuneConfig) -> dict[str, Any]:
    """Components to fine-tune (on the CPU), the photos and, for BLIP-Diffusion, the pipeline that
    encodes them (on the training device, in :class:`FinetuneTask`)."""
    began = time.perf_counter()
    photos = [load_image(p) for p in config.subject]
    if config.method == BLIP_METHOD:
        pipe = BlipDiffusionPipeline.from_pretrained(config.model, qformer_tokenizer=config.qformer_tokenizer or None)
        parts = {name: getattr(pipe, name) for name in ("tokenizer", "text_encoder", "unet", "vae")}
        parts.update(pipe=pipe, ctx_begin_pos=pipe.ctx_begin_pos,
                     noise=training_scheduler(dict(pipe.scheduler.config)))
    else:
        parts = {**load_text_to_image_parts(Path(config.model)), "pipe": None}
    logger.info("loaded %s and %d photos in %.2f s", config.model, len(photos), time.perf_counter() - began)
    return {**parts, "photos": photos}


class FinetuneTask:
    """Denoising the subject's photos from ``a {class}`` (+ the trained subject embedding) or ``a sks {class}``."""

    def __init__(self, config: FinetuneConfig, parts: dict[str, Any], device: torch.device,
                 dtype: torch.dtype = torch.float32):
        """``dtype``: the mixed-precision dtype, in which the frozen weights are kept (the UNet's too when
        a LoRA trains; a full UNet keeps float32 master weights); trained parameters stay float32."""
        self.config, self.parts, self.device = config, parts, device
        began = time.perf_counter()
        self.unet = parts["unet"].to(device, dtype if config.lora_rank else torch.float32)
        if config.lora_rank:
            from peft import LoraConfig

            self.unet.requires_grad_(False)
            self.unet.add_adapter(LoraConfig(r=config.lora_rank, lora_alpha=config.lora_rank,
                                             init_lora_weights="gaussian", target_modules=LORA_TARGETS))
            cast_training_params(self.unet, torch.float32)
        else:
            self.unet.requires_grad_(True)
        if config.run.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        self.text_encoder = parts["text_encoder"].to(device, dtype).requires_grad_(False).eval()
        self.noise = parts["noise"]
        placed = time.perf_counter()
        self.posterior = self._encode_photos(parts["vae"].to(device).eval(), parts["photos"])
        photos_encoded = time.perf_counter()
        self.subject_embedding = self._encode_subject(parts["pipe"]) if parts["pipe"] else None
        logger.info("set-up: models on %s in %.2f s, photos encoded in %.2f s, subject encoded in %.2f s", device,
                    placed - began, photos_encoded - placed, time.perf_counter() - photos_encoded)
        self.subject = SubjectParameter(self.subject_embedding.embeds).to(device) if self.subject_embedding else None
        self.data = Shuffled(list(range(len(self.posterior[0]))), config.run.seed)

    def _encode_subject(self, pipe: BlipDiffusionPipeline) -> SubjectEmbedding:
        """The photos' mean subject embedding, encoded on the training device; the encoder then leaves it."""
        home = pipe.qformer.device
        pipe.qformer.to(self.device, torch.float32)
        subject = pipe.encode_subject(list(self.config.subject), self.config.subject_class.strip())
        pipe.qformer.to(home)
        return subject

    @torch.no_grad()
    def _encode_photos(self, vae: Any, photos: list[Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and std (N, C, h, w) of every photo (and its mirror image), scaled for the UNet."""
        size = self.unet.config.sample_size * 2 ** (len(vae.config.block_out_channels) - 1)
        arrays = [np.asarray(square(to_rgb(p), size)) for p in photos]
        if self.config.flip:
            arrays += [a[:, ::-1].copy() for a in arrays]
        posterior = vae.encode(unit_pixels(arrays).to(self.device)).latent_dist
        scale = vae.config.scaling_factor
        return posterior.mean * scale, posterior.std * scale

    def modules(self) -> dict[str, nn.Module]:
        return {"unet": self.unet, **({"subject": self.subject} if self.subject is not None else {})}

    def dataset(self) -> Shuffled:
        return self.data

    def collate(self, items: list[int]) -> dict[str, torch.Tensor]:
        return {"index": torch.tensor(items)}

    def conditioning(self, batch: int) -> torch.Tensor:
        """(B, L, D) text conditioning, with the subject embeddings spliced in for BLIP-Diffusion."""
        tokenizer, length = self.parts["tokenizer"], self.text_encoder.config.max_position_embeddings
        if self.subject is None:
            ids = tokenizer([self.config.caption], padding="max_length", max_length=length, return_tensors="pt")
            return self.text_encoder(ids.input_ids.to(self.device)).last_hidden_state.expand(batch, -1, -1)
        subject = self.subject(batch)
        ids = tokenizer([self.config.caption], padding="max_length", max_length=length - subject.shape[1],
                        truncation=True, return_tensors="pt").input_ids.to(self.device).expand(batch, -1)
        return self.text_encoder(ids, subject, self.parts["ctx_begin_pos"]).last_hidden_state

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        index = batch["index"].to(self.device)
        mean, std = self.posterior
        latents = mean[index] + std[index] * torch.randn(mean[index].shape).to(self.device)
        return denoising_loss(self.unet, self.noise, latents, self.conditioning(len(index))), {}

    def export(self, out: Path) -> None:
        """Subject file, UNet LoRA (or full UNet), then finetune.json: written last, it marks the folder done."""
        cfg, unet = self.config, extract_model_from_parallel(self.unet)
        if self.subject is not None:
            embeds = extract_model_from_parallel(self.subject).embeds.detach()[0].cpu()
            dataclasses.replace(self.subject_embedding, embeds=embeds).save(out / SUBJECT_FILE)
        if cfg.lora_rank:
            from peft.utils import get_peft_model_state_dict

            with atomic_path(out / LORA_FILE) as tmp:
                tmp.mkdir()
                StableDiffusionPipeline.save_lora_weights(
                    tmp, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=LORA_FILE,
                    unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())
                (tmp / LORA_FILE).rename(tmp.with_suffix(".file"))
                shutil.rmtree(tmp)
                tmp.with_suffix(".file").rename(tmp)
        else:
            with atomic_path(out / FULL_UNET_FOLDER) as tmp:
                unet.save_pretrained(tmp)
        info = {"method": cfg.method, "class": cfg.subject_class.strip(), "caption": cfg.caption,
                "lora_rank": cfg.lora_rank, "lora_alpha": cfg.lora_rank, "steps": cfg.run.max_steps,
                "learning_rate": cfg.resolved_learning_rate, "model": cfg.model}
        with atomic_path(out / FINETUNE_FILE) as tmp:
            tmp.write_text(json.dumps(info, indent=2) + "\n")


def finetune(config: FinetuneConfig, resume: bool = False) -> Path:
    """Fine-tune into ``config.out``; returns it. Checkpoints (``out/checkpoints``) are removed at the end
    unless ``keep_checkpoints``."""
    parts = load_base(config)
    run = dataclasses.replace(config.run, learning_rate=config.resolved_learning_rate)
    out = Path(config.out)
    loop.train(lambda device, dtype: FinetuneTask(config, parts, device, dtype), run, out, to_dict(config), resume,
               name=f"finetune-{config.method}", export_dir=out)
    if not config.keep_checkpoints:
        shutil.rmtree(out / CHECKPOINTS, ignore_errors=True)
    return out
