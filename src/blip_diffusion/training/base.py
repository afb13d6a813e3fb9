"""Stage 0, the toy base model: the analogue of Stable Diffusion, trained from scratch on the toy world.

``blip-diffusion train base`` trains four parts in order, each resumable in its own folder:
``OUT/clip`` (tiny CLIP), ``OUT/vision`` (a CLIP vision tower pre-trained on the toy world's labels),
``OUT/vae`` (tiny AutoencoderKL) and ``OUT/unet`` (text-to-image UNet on the frozen CLIP text tower and
VAE). A part whose model exists is skipped. The result, ``OUT/model``, is a diffusers
``StableDiffusionPipeline`` folder (``DiffusionPipeline.from_pretrained`` loads it) plus ``clip/``, the
whole CLIP::

    model_index.json  scheduler/  text_encoder/ (CLIPTextModel)  tokenizer/  unet/  vae/  clip/ (CLIPModel)

The image encoder of stages 1 and 2 is ``OUT/vision/model`` (a ``CLIPVisionModel`` folder), or the
CLIP's vision tower (``OUT/model/clip``) where stage 1 is told so.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import torch
from accelerate.utils import extract_model_from_parallel
from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel, CLIPTextConfig, CLIPTextModel, CLIPTokenizer, CLIPVisionConfig

from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
from blip_diffusion.training import loop
from blip_diffusion.training.base_tasks import (
    ClipTask,
    UnetTask,
    VaeTask,
    VisionLabelsTask,
    encode_captions,
    load_text_encoder,
)
from blip_diffusion.training.config import RunConfig, to_dict
from blip_diffusion.training.data import ToyCaptions, ToyLabelled
from blip_diffusion.training.diffusion import PREDICTION_TYPES, inference_scheduler
from blip_diffusion.training.pooled_text import pooled_text_settings
from blip_diffusion.training.toy_tokenizers import toy_clip_tokenizer
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)
PARTS = ("clip", "vision", "vae", "unet")
ENCODED_FILE = "encoded.safetensors"
CLIP_FOLDER = "clip"


@dataclasses.dataclass(frozen=True)
class ToyData:
    resolution: int = 64
    seed: int = 0
    caption: str = "full"  # "full" description or "prompt" (class plus context)


@dataclasses.dataclass(frozen=True)
class ClipPart:
    run: RunConfig = RunConfig(max_steps=800, batch_size=64, learning_rate=5e-4, warmup_steps=100)  # noqa: RUF009 (frozen)
    text_width: int = 64
    text_layers: int = 3
    vision_width: int = 64
    vision_layers: int = 4
    heads: int = 4
    patch_size: int = 8
    projection_dim: int = 64
    hard_negatives: int = 0  # captions per photo with one identity attribute changed (ToyCaptions), as extra negatives


@dataclasses.dataclass(frozen=True)
class VisionPart:
    run: RunConfig = RunConfig(max_steps=3000, batch_size=64, learning_rate=1e-3, warmup_steps=300)  # noqa: RUF009 (frozen)
    width: int = 128
    layers: int = 8
    heads: int = 4
    patch_size: int = 8
    held_out_photos: int = 500  # photos of held-out subjects each label head is scored on at export


@dataclasses.dataclass(frozen=True)
class VaePart:
    run: RunConfig = RunConfig(max_steps=1200, batch_size=16, learning_rate=1e-3, warmup_steps=100)  # noqa: RUF009 (frozen)
    block_out_channels: tuple[int, ...] = (16, 32, 64)  # 3 blocks: 64x64 pictures -> 16x16 latents
    latent_channels: int = 4
    mid_block_attention: bool = False  # self-attention at 16x16 in the middle: SD has it, the toy can do without
    kl_weight: float = 1e-6


@dataclasses.dataclass(frozen=True)
class UnetPart:
    run: RunConfig = RunConfig(max_steps=2000, batch_size=32, learning_rate=5e-4, warmup_steps=100)  # noqa: RUF009 (frozen)
    block_out_channels: tuple[int, ...] = (64, 128, 128)
    layers_per_block: int = 1
    attention_head_dim: int = 8
    attention: tuple[bool, ...] = ()  # cross-attention per level, top first; empty: every level but the deepest
    caption_dropout: float = 0.1
    photos: int = 20000  # training photos, encoded once (OUT/unet/encoded.safetensors) and seen in seeded epochs
    subject_loss_weight: float = 0.0  # extra loss weight on the subject's latent pixels (see UnetTask)
    edge_loss_weight: float = 0.0  # extra loss weight on the latent pixels its outline crosses (see UnetTask)
    snr_gamma: float = 0.0  # Min-SNR loss weighting (training.diffusion.denoising_loss); 0: uniform
    train_text_encoder: bool = False  # train the CLIP text tower with the UNet (GLIDE) instead of freezing it (SD)
    pooled_text_embedding: bool = False  # also add the pooled caption to the time embedding (training.pooled_text)
    prediction_type: str = "epsilon"  # the UNet's target: "epsilon" (SD1.5) or "v_prediction" (training.diffusion)


@dataclasses.dataclass(frozen=True)
class BaseConfig:
    out: str = "outputs/train/base"
    parts: tuple[str, ...] = PARTS
    data: ToyData = ToyData()
    clip: ClipPart = ClipPart()
    vision: VisionPart = VisionPart()
    vae: VaePart = VaePart()
    unet: UnetPart = UnetPart()

    def __post_init__(self) -> None:
        from blip_diffusion.errors import InputError

        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise InputError(f"parts: unknown part(s) {', '.join(unknown)}; valid parts: {', '.join(PARTS)}")
        if self.unet.photos < 1:
            raise InputError(f"unet.photos must be at least 1, got {self.unet.photos}")
        if self.unet.prediction_type not in PREDICTION_TYPES:
            raise InputError(f"unet.prediction_type must be one of {', '.join(PREDICTION_TYPES)}, "
                             f"got {self.unet.prediction_type!r}")
        if self.unet.snr_gamma < 0:
            raise InputError(f"unet.snr_gamma must be 0 (off) or positive, got {self.unet.snr_gamma}")
        attention, levels = self.unet.attention, len(self.unet.block_out_channels)
        if attention and len(attention) != levels:
            raise InputError(f"unet.attention: expected {levels} values (one per level of unet.block_out_channels), "
                             f"got {len(attention)}")
        if self.data.caption not in ("full", "prompt"):
            raise InputError(f"data.caption must be 'full' or 'prompt', got {self.data.caption!r}")


def vision_config(width: int, layers: int, heads: int, patch_size: int, resolution: int,
                  projection_dim: int = 512) -> dict:
    """A CLIP vision tower's config (as a ``CLIPVisionConfig`` dict) of the given size."""
    return {"hidden_size": width, "intermediate_size": 4 * width, "num_hidden_layers": layers,
            "num_attention_heads": heads, "image_size": resolution, "patch_size": patch_size,
            "projection_dim": projection_dim}


def clip_config(part: ClipPart, tokenizer: CLIPTokenizer, resolution: int) -> CLIPConfig:
    text = {"vocab_size": len(tokenizer), "hidden_size": part.text_width, "intermediate_size": 4 * part.text_width,
            "num_hidden_layers": part.text_layers, "num_attention_heads": part.heads,
            "max_position_embeddings": tokenizer.model_max_length, "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id,
            "projection_dim": part.projection_dim}
    vision = vision_config(part.vision_width, part.vision_layers, part.heads, part.patch_size, resolution,
                           part.projection_dim)
    return CLIPConfig(text_config=text, vision_config=vision, projection_dim=part.projection_dim)


def vae_config(part: VaePart) -> dict:
    blocks = len(part.block_out_channels)
    return {"block_out_channels": list(part.block_out_channels), "down_block_types": ["DownEncoderBlock2D"] * blocks,
            "up_block_types": ["UpDecoderBlock2D"] * blocks, "latent_channels": part.latent_channels,
            "layers_per_block": 1, "norm_num_groups": norm_groups(part.block_out_channels, 16), "sample_size": 64,
            "mid_block_add_attention": part.mid_block_attention}


def unet_config(part: UnetPart, cross_attention_dim: int, latent_channels: int, sample_size: int) -> dict:
    blocks = len(part.block_out_channels)
    attention = part.attention or (True,) * (blocks - 1) + (False,)
    return {"sample_size": sample_size, "in_channels": latent_channels, "out_channels": latent_channels,
            "block_out_channels": list(part.block_out_channels), "layers_per_block": part.layers_per_block,
            "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
            "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)],
            "cross_attention_dim": cross_attention_dim, "attention_head_dim": part.attention_head_dim,
            "norm_num_groups": norm_groups(part.block_out_channels, 32),
            **(pooled_text_settings(cross_attention_dim) if part.pooled_text_embedding else {})}


def norm_groups(channels: tuple[int, ...], preferred: int) -> int:
    """The largest group count up to ``preferred`` (a power of two) that divides every channel count."""
    groups = preferred
    while any(c % groups for c in channels):
        groups //= 2
    return groups


def train_base(config: BaseConfig, resume: bool = False) -> Path:
    """Train the requested parts (skipping finished ones) and, with the UNet, assemble ``OUT/model``. Returns
    the last requested part's result: ``OUT/model`` with the UNet, else ``OUT/<part>/model``."""
    out, data, settings = Path(config.out), config.data, to_dict(config)
    tokenizer = toy_clip_tokenizer()
    captions = ToyCaptions(data.seed, data.resolution, data.caption)
    if "clip" in config.parts and not _done(out / "clip"):
        run = config.clip.run
        cfg = clip_config(config.clip, tokenizer, data.resolution)
        clip_captions = ToyCaptions(data.seed, data.resolution, data.caption, config.clip.hard_negatives)
        loop.train(lambda device, dtype: ClipTask(cfg, tokenizer, clip_captions, device, run.gradient_checkpointing),
                   run, out / "clip", settings, _resuming(resume, out / "clip"), name="base-clip")
    if "vision" in config.parts and not _done(out / "vision"):
        part, run = config.vision, config.vision.run
        cfg = CLIPVisionConfig(**vision_config(part.width, part.layers, part.heads, part.patch_size, data.resolution))
        labelled = ToyLabelled(data.seed, data.resolution)
        loop.train(lambda device, dtype: VisionLabelsTask(cfg, labelled, device, run.gradient_checkpointing,
                                                          part.held_out_photos),
                   run, out / "vision", settings, _resuming(resume, out / "vision"), name="base-vision")
    if "vae" in config.parts and not _done(out / "vae"):
        run = config.vae.run
        loop.train(lambda device, dtype: VaeTask(vae_config(config.vae), config.vae.kl_weight, captions, device,
                                                 run.gradient_checkpointing),
                   run, out / "vae", settings, _resuming(resume, out / "vae"), name="base-vae")
    if "unet" in config.parts and not (out / "model").is_dir():
        _train_unet(config, out, settings, resume)
    last = [part for part in PARTS if part in config.parts][-1]
    return out / "model" if last == "unet" else out / last / "model"


def _done(part_dir: Path) -> bool:
    return (part_dir / "model").is_dir()


def _resuming(resume: bool, part_dir: Path) -> bool:
    """Parts not started yet simply start, even under --resume."""
    return resume and part_dir.is_dir()


def _train_unet(config: BaseConfig, out: Path, settings: dict, resume: bool) -> None:
    for part in ("clip", "vae"):
        if not _done(out / part):
            from blip_diffusion.errors import InputError

            raise InputError(f"the UNet needs the {part} part: {out / part / 'model'} is missing (add it to parts)")
    clip_dir, vae = out / "clip" / "model", AutoencoderKL.from_pretrained(out / "vae" / "model")
    tokenizer = CLIPTokenizer.from_pretrained(clip_dir)
    text_encoder = load_text_encoder(clip_dir)
    factor = 2 ** (len(vae.config.block_out_channels) - 1)
    cfg = unet_config(config.unet, text_encoder.config.hidden_size, vae.config.latent_channels,
                      config.data.resolution // factor)
    parts = {"text_encoder": text_encoder, "vae": vae, "tokenizer": tokenizer}
    data = ToyCaptions(config.data.seed, config.data.resolution, config.data.caption)
    part, run = config.unet, config.unet.run

    def make_task(device: torch.device, dtype: torch.dtype) -> UnetTask:
        encoded = encode_captions(data, part.photos, parts, out / "unet" / ENCODED_FILE, device)
        return UnetTask(cfg, encoded, part.caption_dropout, part.subject_loss_weight, run.seed, device,
                        run.gradient_checkpointing,
                        lambda unet, folder, trained_text: export_base(unet, vae, clip_dir, folder, trained_text,
                                                                       part.prediction_type),
                        snr_gamma=part.snr_gamma, prediction_type=part.prediction_type,
                        text_encoder=load_text_encoder(clip_dir) if part.train_text_encoder else None,
                        edge_loss_weight=part.edge_loss_weight)

    loop.train(make_task, run, out / "unet", settings, _resuming(resume, out / "unet"), name="base-unet",
               export_dir=out / "model")


def export_base(unet: UNet2DConditionModel, vae: AutoencoderKL, clip_dir: Path, out: Path,
                trained_text_encoder: ContextCLIPTextModel | None = None, prediction_type: str = "epsilon") -> None:
    """Write the base model: a StableDiffusionPipeline folder plus the whole CLIP under ``clip/``. The text
    encoder is ``trained_text_encoder`` where one was trained with the UNet, else the CLIP's text tower."""
    tokenizer = CLIPTokenizer.from_pretrained(clip_dir)
    config = CLIPModel.from_pretrained(clip_dir).config.text_config
    text_encoder = CLIPTextModel(config)  # a placeholder: rewritten below in SD1.5's key layout
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   unet=extract_model_from_parallel(unet),
                                   scheduler=inference_scheduler(prediction_type),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    with atomic_path(out) as tmp:
        pipe.save_pretrained(tmp, safe_serialization=True)
        trained = trained_text_encoder is not None
        save_text_encoder(extract_model_from_parallel(trained_text_encoder) if trained else load_text_encoder(clip_dir),
                          tmp / "text_encoder")
        shutil.copytree(clip_dir, tmp / CLIP_FOLDER)


def save_text_encoder(encoder: ContextCLIPTextModel, folder: Path) -> None:
    """A CLIP text tower in the classic ``CLIPTextModel`` layout (keys under ``text_model.``, as SD1.5's)."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = CLIPTextConfig.from_dict(encoder.config.to_dict())
    config.architectures = ["CLIPTextModel"]
    config.save_pretrained(folder)
    state = {k: v.detach().contiguous().cpu() for k, v in encoder.state_dict().items() if not k.endswith("position_ids")}
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
