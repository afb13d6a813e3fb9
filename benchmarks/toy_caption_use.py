"""How much does a toy base UNet use each part of its caption? The denoising loss on unseen photos
with their true caption against the same caption with one attribute changed (same noise, same
timestep), by timestep band.

    .venv/bin/python benchmarks/toy_caption_use.py assets/models/toy/base [--photos 256] [--repeats 4]

Prints, per attribute (class, colour, accent, pattern, finish, scene; and the empty caption), the
relative rise of the loss when the caption names a wrong value: on the subject's latent pixels
(weighted by its coverage) and on the whole picture, for four bands of timesteps (t < 250 nearly
clean ... t >= 750 nearly pure noise). A UNet that ignores an attribute shows 0 for it; the empty
caption's rise is what the whole caption is worth. Paired differences over the same draws, so small
effects show without sampling pictures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from diffusers import StableDiffusionPipeline

from blip_diffusion.toyworld.datasets import CaptionDataset
from blip_diffusion.toyworld.scenes import SCENE_NAMES
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, VOCABULARIES
from blip_diffusion.training.data import unit_pixels
from blip_diffusion.training.diffusion import denoising_target, latent_means, training_scheduler

BANDS = ((0, 250), (250, 500), (500, 750), (750, 1000))
UNSEEN = 10**9  # photo positions far past any training run's


def wrong_value(vocabulary: tuple[str, ...], value: str, rng: np.random.Generator) -> str:
    others = [v for v in vocabulary if v != value]
    return others[rng.integers(len(others))]


def variants(photo, rng: np.random.Generator) -> dict[str, str]:
    """The true caption, one per attribute with a wrong value, and the empty caption."""
    captions = {"true": photo.caption}
    for attribute in IDENTITY_ATTRIBUTES:
        value = getattr(photo.subject, attribute)
        captions[attribute] = photo.caption_with(attribute, wrong_value(VOCABULARIES[attribute], value, rng))
    captions["scene"] = photo.caption_with("scene", wrong_value(SCENE_NAMES, photo.scene, rng))
    captions["empty"] = ""
    return captions


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a base model folder (StableDiffusionPipeline layout)")
    parser.add_argument("--photos", type=int, default=256, help="unseen toy photos")
    parser.add_argument("--repeats", type=int, default=4, help="noise draws per photo and band")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    pipe = StableDiffusionPipeline.from_pretrained(args.model, safety_checker=None, requires_safety_checker=False)
    unet, vae, text_encoder, tokenizer = pipe.unet.eval(), pipe.vae.eval(), pipe.text_encoder.eval(), pipe.tokenizer
    scheduler = training_scheduler(dict(pipe.scheduler.config))
    resolution = unet.config.sample_size * pipe.vae_scale_factor
    photos = CaptionDataset(UNSEEN + args.photos, 0, resolution)
    rng = np.random.default_rng(0)
    names = ["true", *IDENTITY_ATTRIBUTES, "scene", "empty"]
    # losses[name][band]: per-sample subject-weighted and whole-picture losses
    subject_loss = {n: [[] for _ in BANDS] for n in names}
    whole_loss = {n: [[] for _ in BANDS] for n in names}
    generator = torch.Generator().manual_seed(0)
    for start in range(0, args.photos, args.batch):
        items = [photos[UNSEEN + i] for i in range(start, min(start + args.batch, args.photos))]
        latents = latent_means(vae, unit_pixels([p.image for p in items]))
        coverage = torch.nn.functional.adaptive_avg_pool2d(
            torch.from_numpy(np.stack([p.alpha for p in items]))[:, None].float(), latents.shape[-2:])
        captions = [variants(p, rng) for p in items]
        states = {}
        for name in names:
            ids = tokenizer([c[name] for c in captions], padding="max_length", truncation=True,
                            return_tensors="pt").input_ids
            states[name] = text_encoder(ids)[0]
        for band, (low, high) in enumerate(BANDS):
            for _ in range(args.repeats):
                noise = torch.randn(latents.shape, generator=generator)
                timesteps = torch.randint(low, high, (len(items),), generator=generator)
                noisy = scheduler.add_noise(latents, noise, timesteps)
                target = denoising_target(scheduler, latents, noise, timesteps)
                for name in names:
                    error = (unet(noisy, timesteps, encoder_hidden_states=states[name]).sample - target)
                    squared = error.pow(2).mean(dim=1, keepdim=True)
                    subject_loss[name][band].append((squared * coverage).sum((1, 2, 3)) / coverage.sum((1, 2, 3)))
                    whole_loss[name][band].append(squared.mean((1, 2, 3)))
    print(f"{args.model}: {args.photos} unseen photos x {args.repeats} draws per band; relative loss rise "
          "with one wrong attribute (mean ± s.e.), subject pixels | whole picture")
    header = " | ".join(f"t {low}-{high - 1}" for low, high in BANDS)
    print(f"| attribute | {header} |")
    print("|---" * (len(BANDS) + 1) + "|")
    for name in names[1:]:
        cells = []
        for band in range(len(BANDS)):
            parts = []
            for losses in (subject_loss, whole_loss):
                true, wrong = torch.cat(losses["true"][band]), torch.cat(losses[name][band])
                rise = (wrong - true) / true.mean()
                parts.append(f"{rise.mean().item():+.3f} ± {rise.std().item() / len(rise) ** 0.5:.3f}")
            cells.append(" / ".join(parts))
        print(f"| {name} | " + " | ".join(cells) + " |")
    for band, (low, high) in enumerate(BANDS):
        true = torch.cat(subject_loss["true"][band]).mean().item(), torch.cat(whole_loss["true"][band]).mean().item()
        print(f"loss with the true caption, t {low}-{high - 1}: subject {true[0]:.4f}, whole {true[1]:.4f}")


if __name__ == "__main__":
    main()
