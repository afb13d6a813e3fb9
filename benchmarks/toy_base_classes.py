"""Does a toy base model draw the class its caption names? Ten captions that differ only in the class
word, each drawn from the same starting noise, for several seeds and ToyBench subjects.

    .venv/bin/python benchmarks/toy_base_classes.py assets/models/toy/base [--seeds 8] [--grid FILE]
    .venv/bin/python benchmarks/toy_base_classes.py assets/models/toy/base --class-only 15 --seeds 6

``--class-only N`` asks with the class word alone instead, "a ball" written N times ("a ball, a
ball, ..."), one set of ten per seed: how much a louder class word helps.

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
    parser.add_argument("--class-only", type=int, default=0, metavar="N",
                        help="prompts 'a {class}' repeated N times instead of full captions (subjects unused)")
    parser.add_argument("--grid", type=Path, help="write the first subject's pictures here (JPEG)")
    args = parser.parse_args()
    pipe = StableDiffusionPipeline.from_pretrained(args.model, safety_checker=None, requires_safety_checker=False)
    pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    channels, size = pipe.unet.config.in_channels, pipe.unet.config.sample_size
    judge = oracle()
    hits, varied, rows = 0, 0, []
    members = [None] if args.class_only else bench_subjects(args.subjects)
    for n, member in enumerate(members):
        for seed in range(args.seeds):
            noise = torch.randn(1, channels, size, size, generator=torch.Generator().manual_seed(seed))
            if args.class_only:
                prompts = [", ".join([f"a {c}"] * args.class_only) for c in CLASSES]
            else:
                scene = CONTEXT_NAMES[(n + seed) % len(CONTEXT_NAMES)]
                prompts = [caption(member.subject.with_changes(class_name=c), scene, "medium") for c in CLASSES]
            pictures = pipe(prompts, height=size * pipe.vae_scale_factor, width=size * pipe.vae_scale_factor,
                            num_inference_steps=STEPS, guidance_scale=args.guidance,
                            latents=noise.repeat(len(CLASSES), 1, 1, 1)).images
            readings = read(judge, pictures)
            read_classes = [readings.words(i)["class_name"] for i in range(len(CLASSES))]
            hits += sum(r == c for r, c in zip(read_classes, CLASSES, strict=True))
            varied += len(set(read_classes)) >= 5
            if n == 0:
                rows.append(pictures)
    pictures_drawn = len(members) * args.seeds * len(CLASSES)
    asked = f"'a {{class}}' x {args.class_only}" if args.class_only else f"full captions of {args.subjects} subjects"
    print(f"{args.model}: {pictures_drawn} pictures, {asked}, {args.seeds} seeds x 10 class words")
    print(f"class read as named: {hits / pictures_drawn:.3f} (chance 0.100)")
    print(f"seeds read as >= 5 different classes: {varied / (len(members) * args.seeds):.3f}")
    if args.grid:
        grid(rows, args.grid)


if __name__ == "__main__":
    main()
