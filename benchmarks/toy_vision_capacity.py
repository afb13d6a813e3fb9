"""Can a toy vision tower see a subject's class and pattern at all, when it is made to look?

    .venv/bin/python benchmarks/toy_vision_capacity.py [--patch-size 8] [--width 64] [--layers 4] [--steps 400]
    .venv/bin/python benchmarks/toy_vision_capacity.py --tower cnn [--width 64] [--layers 5]
    .venv/bin/python benchmarks/toy_vision_capacity.py --width 128 --layers 8 ... --save FOLDER

Trains a fresh CLIP vision tower of the given size with one linear head per identity attribute and
the scene (``training.base_tasks.LabelReader``, as stage 0's ``vision`` part does), by cross-entropy
on fresh photos of training subjects, then prints each head's accuracy on photos of
held-out subjects and the time per step. It separates two causes of a tower that reads the class at
chance after contrastive training (``toy_clip_probe.py``'s image-tower probe): an architecture that
cannot resolve a subject's outline, or an objective that never asks it to. ``--tower cnn`` trains a
small convolutional network the same way instead (3x3 convolutions, every other one of stride 2,
max-pooled), the kind of subject encoder the toy-model issue's calibration run used, as a reference.
``--save`` writes the trained ViT tower as a ``CLIPVisionModel`` folder, which stage 1 can take as
its ``vision_model``. The recipe's image encoder comes from ``blip-diffusion train base``'s ``vision``
part, which trains the same model resumably; this script is the quick way to compare sizes.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from toy_clip_probe import photos
from transformers import CLIPVisionConfig

from blip_diffusion.toyworld.photos import LABEL_VALUES, Photo
from blip_diffusion.training.base import vision_config
from blip_diffusion.training.base_tasks import LabelReader, held_out_photos, label_accuracy, stack_labels
from blip_diffusion.training.data import clip_pixels
from blip_diffusion.utils.atomic import atomic_path


class CnnLabelReader(torch.nn.Module):
    """``small_cnn`` with one linear head per label: pixels -> logits per label (as ``LabelReader``)."""

    def __init__(self, width: int, layers: int):
        super().__init__()
        self.tower = small_cnn(width, layers)
        self.heads = torch.nn.ModuleDict({a: torch.nn.Linear(width, count) for a, count in LABEL_VALUES.items()})

    def forward(self, pixels: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.tower(pixels)
        return {a: head(pooled) for a, head in self.heads.items()}


def small_cnn(width: int, layers: int) -> torch.nn.Sequential:
    """``layers`` 3x3 convolutions of ``width`` channels (every other one of stride 2), max-pooled."""
    blocks, channels = [], 3
    for index in range(layers):
        blocks += [torch.nn.Conv2d(channels, width, 3, stride=1 + index % 2, padding=1), torch.nn.GELU()]
        channels = width
    return torch.nn.Sequential(*blocks, torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten())


def evaluate(model: torch.nn.Module, test: list[Photo], resolution: int) -> dict[str, float]:
    model.eval()
    scores = label_accuracy(model, test, resolution)
    model.train()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tower", choices=("vit", "cnn"), default="vit")
    parser.add_argument("--patch-size", type=int, default=8, help="ViT only")
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--test", type=int, default=500, help="photos of held-out subjects scored")
    parser.add_argument("--eval-every", type=int, default=0, help="also score the held-out photos every N steps")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save", default="", help="write the trained ViT tower to this folder (CLIPVisionModel)")
    args = parser.parse_args()
    if args.save and args.tower != "vit":
        parser.error("--save writes a ViT tower: it needs --tower vit")
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    if args.tower == "vit":
        config = vision_config(args.width, args.layers, 4, args.patch_size, args.resolution)
        model: torch.nn.Module = LabelReader(CLIPVisionConfig(**config), LABEL_VALUES)
        name = f"vision tower: patch {args.patch_size}, width {args.width}, {args.layers} layers"
    else:
        model = CnnLabelReader(args.width, args.layers)
        name = f"small CNN: width {args.width}, {args.layers} layers"
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.learning_rate, total_steps=args.steps,
                                                   pct_start=0.1)
    print(f"{name}, "
          f"{sum(p.numel() for p in model.tower.parameters()) / 1e6:.2f}M parameters; "
          f"{args.steps} steps of {args.batch_size}")
    test = held_out_photos(args.test, args.resolution, args.seed + 1)
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = photos(rng, args.batch_size, False, args.resolution)
        logits = model(clip_pixels([p.image for p in batch], args.resolution))
        truth = stack_labels([p.labels() for p in batch])
        loss = sum(F.cross_entropy(logits[a], truth[a]) for a in LABEL_VALUES)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.3f}, {(time.perf_counter() - start) / step:.2f} s per step", flush=True)
        if args.eval_every and step % args.eval_every == 0 and step < args.steps:
            scores = evaluate(model, test, args.resolution)
            print(f"step {step}, held out: " + ", ".join(f"{a} {v:.3f}" for a, v in scores.items()), flush=True)
    scores = evaluate(model, test, args.resolution)
    print("| attribute | values | chance | held-out accuracy |\n|---|---|---|---|")
    for a, classes in LABEL_VALUES.items():
        print(f"| {a} | {classes} | {1 / classes:.3f} | {scores[a]:.3f} |")
    if args.save:
        with atomic_path(args.save) as folder:
            model.tower.save_pretrained(folder, safe_serialization=True)
        print(f"vision tower -> {args.save}")


if __name__ == "__main__":
    main()
