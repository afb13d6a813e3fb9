"""ControlNet training: a canny-edge ControlNet for a text-to-image model, the analogue of
``lllyasviel/sd-controlnet-canny`` that BLIP-Diffusion's structure control plugs into its UNet.

``blip-diffusion train controlnet`` builds the ControlNet from the base model's UNet (its encoder
copied, zero convolutions at the exits: ``ControlNetModel.from_unet``), freezes the UNet, text
encoder and VAE, and learns to denoise a picture from its caption and the canny edges of the picture
itself. Captions are dropped (empty text) with ``caption_dropout``, as ControlNet's recipe does so
that the edges alone can steer. Data: the toy world's captions (``data.kind = "toy"``) or a data
folder (``captions.jsonl`` + images, see docs/training.md). ``OUT/model`` is a diffusers
ControlNetModel folder: ``blip-diffusion generate --controlnet OUT/model --control-image canny:PHOTO``.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import extract_model_from_parallel
from diffusers import ControlNetModel, UNet2DConditionModel
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.control_images import canny_edges
from blip_diffusion.training import loop
from blip_diffusion.training.base_tasks import load_text_to_image_parts
from blip_diffusion.training.config import RunConfig, to_dict
from blip_diffusion.training.data import FolderCaptions, ToyCaptions, unit_pixels
from blip_diffusion.training.diffusion import denoising_target, drop_captions, encode_latents
from blip_diffusion.utils.atomic import atomic_path

CONDITIONING_CHANNELS = (16, 32, 96, 256)  # ControlNet's, for the four sizes from picture to latents


def controlnet_from_unet(unet: UNet2DConditionModel, channels: tuple[int, ...]) -> ControlNetModel:
    """``ControlNetModel.from_unet``, with a pooled-text embedding (training.pooled_text) copied as it is:
    diffusers rebuilds that one with its default 64 heads, which would pool the prompt differently."""
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=channels)
    if unet.config.addition_embed_type == "text":
        controlnet.add_embedding = copy.deepcopy(unet.add_embedding)
        controlnet.register_to_config(addition_embed_type_num_heads=unet.config.addition_embed_type_num_heads)
    return controlnet


@dataclasses.dataclass(frozen=True)
class ControlData:
    kind: str = "toy"  # "toy" or "folder"
    path: str = ""  # folder: images + captions.jsonl
    resolution: int = 64
    seed: int = 3
    caption: str = "full"  # toy only: "full" description or "prompt"


@dataclasses.dataclass(frozen=True)
class ControlNetConfig:
    out: str = "outputs/train/controlnet"
    base_model: str = "outputs/train/base/model"  # text-to-image folder: text_encoder, tokenizer, unet, vae
    canny_low: int = 100
    canny_high: int = 200
    caption_dropout: float = 0.5  # ControlNet's recipe: half the captions empty, so edges alone can steer
    data: ControlData = ControlData()
    run: RunConfig = RunConfig(max_steps=1000, batch_size=32, learning_rate=2e-4, warmup_steps=50)  # noqa: RUF009 (frozen)

    def __post_init__(self) -> None:
        if self.data.kind not in ("toy", "folder"):
            raise InputError(f"data.kind must be 'toy' or 'folder', got {self.data.kind!r}")
        if not 0.0 <= self.caption_dropout <= 1.0:
            raise InputError(f"caption_dropout must be a probability in [0, 1], got {self.caption_dropout}")
        if not 0 <= self.canny_low <= self.canny_high:
            raise InputError(f"canny thresholds must satisfy 0 <= low <= high, got {self.canny_low}, {self.canny_high}")


def load_base_parts(base_model: str) -> dict[str, Any]:
    root = Path(base_model)
    if not (root / "model_index.json").is_file():
        raise InputError(f"base_model {root} is not a model folder: train the base model first or set base_model=")
    return load_text_to_image_parts(root)


class ControlNetTask:
    """Denoising with the frozen UNet plus the trained ControlNet's residuals from the picture's edges."""

    def __init__(self, config: ControlNetConfig, parts: dict[str, Any], data: Any, device: torch.device,
                 weight_dtype: torch.dtype):
        self.config, self.data, self.device, self.tokenizer = config, data, device, parts["tokenizer"]
        # The edge map enters at picture size and is brought down to the latents by one stride-2 conv
        # per halving: SD's VAE halves three times (16, 32, 96, 256), the toy's twice.
        halvings = len(parts["vae"].config.block_out_channels) - 1
        channels = CONDITIONING_CHANNELS[: halvings + 1]
        self.controlnet = controlnet_from_unet(parts["unet"], channels)
        self.controlnet.to(device)
        if config.run.gradient_checkpointing:
            self.controlnet.enable_gradient_checkpointing()
        self.unet = parts["unet"].to(device, weight_dtype).requires_grad_(False).eval()
        self.text_encoder = parts["text_encoder"].to(device, weight_dtype).requires_grad_(False).eval()
        self.vae = parts["vae"].to(device, weight_dtype).requires_grad_(False).eval()
        self.noise = parts["noise"]

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"controlnet": self.controlnet}

    def dataset(self) -> Any:
        return self.data

    def collate(self, items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        cfg = self.config
        edges = [np.asarray(canny_edges(Image.fromarray(i["image"]), cfg.canny_low, cfg.canny_high)) for i in items]
        ids = self.tokenizer([i["caption"] for i in items], padding="max_length", truncation=True,
                             return_tensors="pt").input_ids
        control = torch.from_numpy(np.stack(edges)).permute(0, 3, 1, 2).float() / 255.0  # [0, 1], as at inference
        return {"input_ids": ids, "pixels": unit_pixels([i["image"] for i in items]), "control": control}

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        ids = drop_captions(batch["input_ids"].to(self.device), self.tokenizer, self.config.caption_dropout)
        with torch.no_grad():
            cond = self.text_encoder(ids).last_hidden_state
            latents = encode_latents(self.vae, batch["pixels"].to(self.device))
        noise = torch.randn(latents.shape, device=latents.device, dtype=torch.float32).to(latents.dtype)
        timesteps = torch.randint(0, self.noise.config.num_train_timesteps, (len(latents),)).to(self.device)
        noisy = self.noise.add_noise(latents, noise, timesteps)
        control = batch["control"].to(self.device, noisy.dtype)
        down, mid = self.controlnet(noisy, timesteps, encoder_hidden_states=cond, controlnet_cond=control,
                                    return_dict=False)
        prediction = self.unet(noisy, timesteps, encoder_hidden_states=cond, down_block_additional_residuals=down,
                               mid_block_additional_residual=mid).sample
        return F.mse_loss(prediction.float(), denoising_target(self.noise, latents, noise, timesteps).float()), {}

    def export(self, out: Path) -> None:
        with atomic_path(out) as tmp:
            extract_model_from_parallel(self.controlnet).save_pretrained(tmp)


def controlnet_data(data: ControlData) -> Any:
    if data.kind == "toy":
        return ToyCaptions(data.seed, data.resolution, data.caption)
    return FolderCaptions(data.path, data.resolution)


def train_controlnet(config: ControlNetConfig, resume: bool = False) -> Path:
    parts = load_base_parts(config.base_model)
    data = controlnet_data(config.data)
    return loop.train(lambda device, dtype: ControlNetTask(config, parts, data, device, dtype), config.run,
                      Path(config.out), to_dict(config), resume, name="controlnet")
