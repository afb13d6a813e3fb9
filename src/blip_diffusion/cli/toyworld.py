"""``blip-diffusion toyworld``: the synthetic subject world: example sheets, data sets, the oracle.

- ``examples --out DIR``: example renders of subjects and scenes, and of ToyBench subjects;
- ``dataset KIND --out DIR --count N``: a data set as PNG files plus ``metadata.jsonl``;
- ``train-oracle --out FILE``: train the attribute-reading oracle, measure it on held-out renders,
  write its weights and ``<FILE stem>.accuracy.json``;
- ``bundle --model DIR --base DIR --out DIR [--controlnet DIR] [--base-only]``: the trained toy model
  (stage 2, its base and its canny ControlNet) in one folder, float16, shared components stored once
  (what ``assets/models/toy`` holds).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from blip_diffusion.cli.common import output_file, output_folder
from blip_diffusion.errors import InputError
from blip_diffusion.toyworld.datasets import DEFAULT_RESOLUTION
from blip_diffusion.toyworld.examples import bench_sheet, world_sheet
from blip_diffusion.toyworld.export import KINDS, export_dataset
from blip_diffusion.toyworld.oracle import save_oracle
from blip_diffusion.toyworld.oracle_training import OracleTraining, measure_oracle, train_oracle
from blip_diffusion.utils.atomic import atomic_path

_TRAINING = OracleTraining()


def _add_examples(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, type=output_folder, help="folder for world.png and toybench.png")
    parser.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION, help="picture side in pixels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the world sheet")


def _add_dataset(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "kind",
        choices=sorted(KINDS),
        help="captions: image-caption pairs; subjects: stage-2 target, source and mask; "
        "backgrounds: the random-background pool",
    )
    parser.add_argument("--out", required=True, type=output_folder, help="output folder (replaced when complete)")
    parser.add_argument("--count", type=int, required=True, help="number of items")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    parser.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION, help="picture side in pixels")


def _add_train_oracle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True, type=output_file, help="weights file, e.g. assets/toyworld/oracle.safetensors"
    )
    parser.add_argument("--steps", type=int, default=_TRAINING.steps, help="optimiser steps")
    parser.add_argument("--batch-size", type=int, default=_TRAINING.batch_size, help="pictures per step")
    parser.add_argument("--pictures", type=int, default=_TRAINING.pictures, help="training pictures rendered")
    parser.add_argument("--seed", type=int, default=_TRAINING.seed, help="seed of data and initialisation")
    parser.add_argument("--workers", type=int, default=_TRAINING.workers, help="processes that render")
    parser.add_argument("--held-out", type=int, default=5000, help="held-out pictures to measure accuracy on")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def _add_bundle(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", type=Path, default=Path("outputs/train/stage2/model"), help="stage-2 model folder"
    )
    parser.add_argument(
        "--base", type=Path, default=Path("outputs/train/base/model"), help="stage-0 base model folder"
    )
    parser.add_argument(
        "--out", type=output_folder, default="assets/models/toy", help="bundle folder (replaced whole)"
    )
    parser.add_argument("--base-only", action="store_true", help="bundle the base model alone (no --model)")
    parser.add_argument("--controlnet", type=Path, default=None,
                        help="a ControlNet of the base model (train controlnet's OUT/model), bundled with --model")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, adder, help_text in (
        ("examples", _add_examples, "example renders of subjects, scenes and ToyBench subjects"),
        ("dataset", _add_dataset, "write a data set as PNG files plus metadata.jsonl"),
        ("train-oracle", _add_train_oracle, "train the attribute-reading oracle and measure it"),
        ("bundle", _add_bundle, "the trained toy model and its base model in one float16 folder"),
    ):
        adder(actions.add_parser(name, help=help_text, description=help_text))


def _at_least(args: argparse.Namespace, minimum: int, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if value < minimum:
            raise InputError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


def _examples(args: argparse.Namespace) -> int:
    _at_least(args, 16, "resolution")
    for name, sheet in (
        ("world.png", world_sheet(args.resolution, seed=args.seed)),
        ("toybench.png", bench_sheet(resolution=args.resolution)),
    ):
        with atomic_path(args.out / name) as tmp:
            sheet.save(tmp, format="PNG")
        print(args.out / name)
    return 0


def _dataset(args: argparse.Namespace) -> int:
    _at_least(args, 1, "count")
    _at_least(args, 16, "resolution")
    print(export_dataset(args.kind, args.out, args.count, args.seed, args.resolution, progress=True))
    return 0


def _train_oracle(args: argparse.Namespace) -> int:
    _at_least(args, 1, "steps", "batch_size", "pictures", "workers", "held_out")
    if args.out.suffix != ".safetensors":
        raise InputError(f"--out must name a .safetensors file, got {args.out}")
    training = dataclasses.replace(
        _TRAINING,
        steps=args.steps,
        batch_size=args.batch_size,
        pictures=args.pictures,
        seed=args.seed,
        workers=args.workers,
    )
    started = time.monotonic()
    with tqdm(total=training.steps, desc="training the oracle", unit="step", dynamic_ncols=True) as bar:

        def on_step(step: int, loss: float) -> None:
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            bar.update()

        oracle = train_oracle(training, on_step=on_step, device=args.device)
    seconds = time.monotonic() - started
    accuracy = measure_oracle(oracle, args.held_out, seed=args.seed, workers=args.workers)
    with atomic_path(args.out) as tmp:
        save_oracle(oracle.cpu(), tmp)
    record = {
        "accuracy": accuracy,
        "held_out_pictures": args.held_out,
        "training": dataclasses.asdict(training),
        "training_seconds": round(seconds),
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
    }
    accuracy_path = args.out.with_suffix(".accuracy.json")
    with atomic_path(accuracy_path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"trained in {seconds:.0f} s; accuracy on {args.held_out} held-out renders:")
    for name, value in accuracy.items():
        print(f"  {name:12s} {value:.4f}")
    print(f"weights: {args.out}\naccuracy: {accuracy_path}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from blip_diffusion.training.bundle import bundle_toy_model

    out = bundle_toy_model(None if args.base_only else args.model, args.base, args.out, controlnet=args.controlnet)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"{out}: {size / 2**20:.1f} MiB")
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"examples": _examples, "dataset": _dataset, "train-oracle": _train_oracle, "bundle": _bundle}
    return actions[args.action](args)
