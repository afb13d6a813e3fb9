"""Does a toy base model draw the class its caption names? Ten captions that differ only in the class
word, each drawn from the same starting noise, for several seeds and ToyBench subjects.

    .venv/bin/python benchmarks/toy_base_classes.py assets/models/toy/base [--seeds 8] [--grid FILE]

Prints the share of pictures whose class the oracle reads as the one named (chance 0.1) and the share
of seeds whose ten pictures the oracle reads as at least five different classes; ``--grid`` writes the
first subject's pictures, one row per seed, one column per class word.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import StableDiffusionPipeline
from toy_probe import STEPS, grid, oracle

from blip_diffusion.pipelines.schedulers import make_scheduler
from blip_diffusion.toyworld.benchset import bench_subjects
from blip_diffusion.toyworld.oracle import read
from blip_diffusion.toyworld.scenes import CONTEXT_NAMES, caption
from blip_diffusion.toyworld.subjects import CLASSES


@torch.no_grad()
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a base model folder (StableDiffusionPipeline layout)")
    parser.add_argument("--subjects", type=int, default=4, help="ToyBench subjects (colours, pattern, finish)")
    parser.add_argument("--seeds", type=int, default=4, help="starting noises per subject")
    parser.add_argument("--guidance", type=float, default=7.5)
    parser.add_argument("--grid", type=Path, help="write the first subject's pictures here (JPEG)")
    args = parser.parse_args()
    pipe = StableDiffusionPipeline.from_pretrained(args.model, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    channels, size = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    judge = oracle()
    hits, varied, rows = 0, 0, []
    for n, member in enumerate(bench_subjects(args.subjects)):
        subject = member.subject
        for seed in range(args.seeds):
            noise = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))
            scene = CONTEXT_NAMES[(n + seed) % len(CONTEXT_NAMES)]
            prompts = [caption(subject.with_changes(class_name=c), scene, "medium") for c in CLASSES]
            pictures = pipe(prompts, height=size * pipe.vae_scale_factor, width=size * pipe.vae_scale_factor,
                            num_inference_steps=STEPS, guidance_scale=args.guidance,
                            latents=noise.repeat(len(CLASSES), 1, 1, 1)).images
            readings = read(judge, pictures)
            read_classes = [readings.words(i)["class_name"] for i in range(len(CLASSES))]
            hits += sum(r == c for r, c in zip(read_classes, CLASSES, strict=True))
            varied += len(set(read_classes)) >= 5
            if n == 0:
                rows.append(pictures)
    pictures_drawn = args.subjects * args.seeds * len(CLASSES)
    print(f"{args.model}: {pictures_drawn} pictures, {args.subjects} subjects x {args.seeds} seeds x 10 class words")
    print(f"class read as named: {hits / pictures_drawn:.3f} (chance 0.100)")
    print(f"seeds read as >= 5 different classes: {varied / (args.subjects * args.seeds):.3f}")
    if args.grid:
        grid(rows, args.grid)


if __name__ == "__main__":
    main()
