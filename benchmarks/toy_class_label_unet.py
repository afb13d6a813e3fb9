"""Can the toy base UNet draw a class's outline when it is told the class directly? The bundled base
recipe (its CLIP and VAE, 20000 encoded photos, the UNet of configs/train/toy_base.toml), with the
photo's class also given as a learned class embedding added to the timestep embedding (diffusers'
``num_class_embeds``): the strongest conditioning a UNet can get, past the text encoder and the
cross-attention. If this UNet draws the named class where the text-conditioned ones stay at chance,
the text path is what keeps outlines out; if it does not either, the UNet and latents are.

    .venv/bin/python benchmarks/toy_class_label_unet.py train OUT [--steps 2000] [--photos N] [--pixels] [--resume]
    .venv/bin/python benchmarks/toy_class_label_unet.py probe OUT [--subjects 4] [--seeds 2] [--grid FILE]

``train`` checkpoints every 250 steps in OUT (``--resume`` continues); ``--pixels`` trains the same UNet
on 32x32 pixels instead of the VAE's 16x16x8 latents (the toy-model issue's calibration model was
pixel-space at 32x32 and drew silhouettes within 800 steps). ``probe`` takes OUT's latest
checkpoint and draws, as ``toy_base_classes.py``, ten pictures per starting noise whose captions
differ only in the class word, each with the matching class label; it prints the share the oracle
reads as the named class (chance 0.1) and of seeds with at least five different classes read;
``--grid`` writes the first subject's pictures, one row per seed, one column per class.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
from pathlib import Path
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, UNet2DConditionModel
from PIL import Image
from safetensors.torch import load_file
from toy_base_checkpoint import latest_checkpoint
from toy_probe import ROOT, STEPS, grid, oracle
from transformers import CLIPTokenizer

from blip_diffusion.pipelines.schedulers import make_scheduler
from blip_diffusion.toyworld.benchset import bench_subjects
from blip_diffusion.toyworld.oracle import read
from blip_diffusion.toyworld.scenes import CONTEXT_NAMES, caption
from blip_diffusion.toyworld.subjects import CLASSES
from blip_diffusion.training import loop
from blip_diffusion.training.base import BaseConfig, unet_config
from blip_diffusion.training.base_tasks import UnetTask, encode_captions, load_text_encoder
from blip_diffusion.training.checkpoint import CONFIG_FILE
from blip_diffusion.training.config import load
from blip_diffusion.training.data import ToyCaptions
from blip_diffusion.training.diffusion import denoising_loss, inference_scheduler, subject_weights

BASE = ROOT / "assets" / "models" / "toy" / "base"
CONFIG = ROOT / "configs" / "train" / "toy_base.toml"
NO_CLASS = len(CLASSES)  # the label of dropped captions (classifier-free guidance's unconditional input)


class ClassLabelledUnetTask(UnetTask):
    """The base UNet's task with each photo's class (read from its caption's tokens) as a class label."""

    def __init__(self, *args, class_tokens: torch.Tensor, **kwargs):
        super().__init__(*args, **kwargs)
        self.class_tokens = class_tokens

    def loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        latents = batch["latents"].to(self.device)
        dropped = (torch.rand(len(latents)) < self.caption_dropout).to(self.device)
        labels = torch.where(dropped, NO_CLASS, class_labels(batch["ids"], self.class_tokens).to(self.device))
        weight = subject_weights(batch["subject"].to(self.device), latents.shape[-2:], self.subject_loss_weight,
                                 self.edge_loss_weight)
        unet = functools.partial(self.unet, class_labels=labels)
        return denoising_loss(unet, self.scheduler, latents, self.caption_states(batch, dropped), weight), {}


def class_labels(ids: torch.Tensor, class_tokens: torch.Tensor) -> torch.Tensor:
    """Token ids (B, L) -> the index in CLASSES of the class word each caption holds (B,)."""
    matches = ids.long()[:, :, None] == class_tokens[None, None, :]
    if not matches.any(dim=(1, 2)).all():
        raise ValueError("a caption without a class word")
    return matches.any(dim=1).float().argmax(dim=1)


class HalfSizePixels(torch.nn.Module):
    """The VAE's stand-in for a UNet in pixel space, as the toy-model issue's calibration model: encoding
    averages 2x2 pixels (64x64x3 -> 32x32x3, values in [-1, 1]), decoding upsamples bilinearly."""

    config = SimpleNamespace(scaling_factor=1.0, latent_channels=3)
    device, dtype = torch.device("cpu"), torch.float32

    def encode(self, pixels: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(latent_dist=SimpleNamespace(mean=F.avg_pool2d(pixels, 2)))

    def decode(self, latents: torch.Tensor) -> SimpleNamespace:
        return SimpleNamespace(sample=F.interpolate(latents, scale_factor=2, mode="bilinear"))


def image_codec(pixels: bool) -> torch.nn.Module:
    return HalfSizePixels() if pixels else AutoencoderKL.from_pretrained(BASE / "vae")


def unet_settings(config: BaseConfig, text_encoder: torch.nn.Module, codec: torch.nn.Module, pixels: bool) -> dict:
    """The recipe's UNet config on ``codec``'s latents, with class embeddings; in pixel space (32x32x3) the
    top level, at 32x32, has no attention (1024 positions), the 16x16 and 8x8 levels do."""
    part = dataclasses.replace(config.unet, attention=(False, True, True)) if pixels else config.unet
    downsampling = 2 if pixels else 2 ** (len(codec.config.block_out_channels) - 1)
    cfg = unet_config(part, text_encoder.config.hidden_size, codec.config.latent_channels,
                      config.data.resolution // downsampling)
    return {**cfg, "num_class_embeds": len(CLASSES) + 1}


def train(out: Path, steps: int, photos: int | None, pixels: bool, resume: bool) -> None:
    config = load(BaseConfig, CONFIG)
    parts = {"text_encoder": load_text_encoder(BASE / "clip"), "vae": image_codec(pixels),
             "tokenizer": CLIPTokenizer.from_pretrained(BASE / "tokenizer")}
    cfg = unet_settings(config, parts["text_encoder"], parts["vae"], pixels)
    class_tokens = torch.tensor([parts["tokenizer"](c, add_special_tokens=False).input_ids[0] for c in CLASSES])
    data = ToyCaptions(config.data.seed, config.data.resolution, config.data.caption)
    part = config.unet
    run = dataclasses.replace(part.run, max_steps=steps, checkpoint_every=250, checkpoints_kept=20, log_with="none")

    def make_task(device: torch.device, dtype: torch.dtype) -> ClassLabelledUnetTask:
        encoded = encode_captions(data, photos or part.photos, parts, out / "encoded.safetensors", device)
        return ClassLabelledUnetTask(cfg, encoded, part.caption_dropout, part.subject_loss_weight, run.seed, device,
                                     False, lambda unet, folder, _: unet.save_pretrained(folder),
                                     class_tokens=class_tokens)

    loop.train(make_task, run, out, {"unet": cfg, "steps": steps, "pixels": pixels}, resume, name="class-label-unet")


@torch.no_grad()
def probe(out: Path, subjects: int, seeds: int, guidance: float, grid_path: Path | None) -> None:
    checkpoint = latest_checkpoint(out)
    settings = json.loads((checkpoint / CONFIG_FILE).read_text())
    cfg = settings["unet"]
    unet = UNet2DConditionModel.from_config(cfg).eval()
    unet.load_state_dict(load_file(checkpoint / "model.safetensors"))
    vae = image_codec(settings.get("pixels", False)).eval()
    text_encoder, tokenizer = load_text_encoder(BASE / "clip").eval(), CLIPTokenizer.from_pretrained(BASE / "tokenizer")

    def states(texts: list[str]) -> torch.Tensor:
        ids = tokenizer(texts, padding="max_length", truncation=True, return_tensors="pt").input_ids
        return text_encoder(ids).last_hidden_state

    scheduler = make_scheduler("dpm", inference_scheduler().config)
    channels, size = cfg["in_channels"], cfg["sample_size"]
    labels = torch.arange(len(CLASSES))
    judge, hits, varied, rows = oracle(), 0, 0, []
    for n, member in enumerate(bench_subjects(subjects)):
        for seed in range(seeds):
            scene = CONTEXT_NAMES[(n + seed) % len(CONTEXT_NAMES)]
            prompts = [caption(member.subject.with_changes(class_name=c), scene, "medium") for c in CLASSES]
            text = torch.cat([states([""]).expand(len(CLASSES), -1, -1), states(prompts)])
            both = torch.cat([torch.full_like(labels, NO_CLASS), labels])
            noise = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))
            scheduler.set_timesteps(STEPS)
            latents = noise.repeat(len(CLASSES), 1, 1, 1) * scheduler.init_noise_sigma
            for t in scheduler.timesteps:
                model_input = scheduler.scale_model_input(torch.cat([latents, latents]), t)
                unconditional, conditional = unet(model_input, t, encoder_hidden_states=text, class_labels=both).sample.chunk(2)
                eps = unconditional + guidance * (conditional - unconditional)
                latents = scheduler.step(eps, t, latents).prev_sample
            decoded = vae.decode(latents / vae.config.scaling_factor).sample
            pictures = [Image.fromarray(((p.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy())
                        for p in decoded]
            readings = read(judge, pictures)
            if n == 0:
                rows.append(pictures)
            drawn = [readings.words(i)["class_name"] for i in range(len(CLASSES))]
            hits += sum(d == c for d, c in zip(drawn, CLASSES, strict=True))
            varied += len(set(drawn)) >= 5
    pictures_drawn, noises = subjects * seeds * len(CLASSES), subjects * seeds
    print(f"{checkpoint.name}: class read as named {hits / pictures_drawn:.3f} of {pictures_drawn} pictures "
          f"(chance 0.1); seeds with >= 5 classes read: {varied}/{noises}")
    if grid_path:
        grid(rows, grid_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("train", "probe"))
    parser.add_argument("out", type=Path, help="the run's folder (checkpoints, encoded photos)")
    parser.add_argument("--steps", type=int, default=2000, help="train: optimizer steps in all")
    parser.add_argument("--photos", type=int, help="train: encoded photos (default: the recipe's 20000)")
    parser.add_argument("--pixels", action="store_true",
                        help="train: in pixel space (32x32x3, the issue's calibration) instead of the VAE's latents")
    parser.add_argument("--resume", action="store_true", help="train: continue from OUT's latest checkpoint")
    parser.add_argument("--subjects", type=int, default=4, help="probe: ToyBench subjects")
    parser.add_argument("--seeds", type=int, default=2, help="probe: starting noises per subject")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--grid", type=Path, help="probe: write the first subject's pictures here (JPEG)")
    args = parser.parse_args()
    if args.command == "train":
        train(args.out, args.steps, args.photos, args.pixels, args.resume)
    else:
        probe(args.out, args.subjects, args.seeds, args.guidance, args.grid)


if __name__ == "__main__":
    main()
