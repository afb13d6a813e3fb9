"""Breakdowns of ToyBench runs for docs/results.md, read from their report.json and pictures.

    .venv/bin/python benchmarks/toybench_breakdowns.py attributes outputs/toybench/table1
    .venv/bin/python benchmarks/toybench_breakdowns.py paired outputs/toybench/ablation-baseline \\
        outputs/toybench/ablation-skip_stage1 ...
    .venv/bin/python benchmarks/toybench_breakdowns.py grid outputs/toybench/table1 ground_truth blip_diffusion \\
        ... --out docs/images/toybench_toy_model.jpg

``attributes``: per row, the share of context-prompt pictures in which the oracle reads each identity
attribute of the subject right. ``paired``: per run, the mean and standard error of its per-picture
differences against the baseline run (same subject, prompt and sample, hence the same seed), and
the mean PSNR of its pictures against the baseline's (how far a faster sampler moves the pictures).
``grid``: the named rows' overviews (per subject, a reference photo then the first sample of each
prompt) interleaved subject by subject, scaled and saved as one picture.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_generate import psnr

from blip_diffusion.toyworld.oracle import load_oracle, read
from blip_diffusion.toyworld.scenes import CONTEXT_SCENES

ORACLE = ROOT / "assets" / "toyworld" / "oracle.safetensors"
IDENTITY = ("class_name", "colour", "accent", "pattern", "finish")  # the order of a subject's name
METRICS = ("subject_fidelity", "identity_cosine", "text_fidelity", "copy")


def attributes(run: Path) -> None:
    report = json.loads((run / "report.json").read_text())
    oracle = load_oracle(ORACLE)
    phrases = tuple(scene.phrase for scene in CONTEXT_SCENES)
    print("| row | " + " | ".join(IDENTITY) + " | pictures |")
    for row, items in report["images"].items():
        items = [i for i in items if i["prompt"].endswith(phrases)]
        readings = read(oracle, [Image.open(run / i["path"]) for i in items])
        hits = dict.fromkeys(IDENTITY, 0)
        for n, item in enumerate(items):
            truth = dict(zip(IDENTITY, item["subject"].split("-")[1:], strict=True))  # "01-ball-blue-..."
            words = readings.words(n)
            for name in IDENTITY:
                hits[name] += words[name] == truth[name]
        print(f"| {row} | " + " | ".join(f"{hits[n] / len(items):.2f}" for n in IDENTITY) + f" | {len(items)} |")


def mean_and_error(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))


def model_images(run: Path) -> dict[tuple, dict]:
    """The pictures of the run's one model row, keyed by (subject, prompt, sample)."""
    images = json.loads((run / "report.json").read_text())["images"]
    (row,) = [name for name in images if name not in ("ground_truth", "ground_truth_vae")]
    return {(i["subject"], i["prompt"], i["sample"]): i for i in images[row]}


def picture_psnr(a: Path, b: Path) -> float:
    return psnr(*(np.asarray(Image.open(p).convert("RGB"), dtype=np.float64) / 255 for p in (a, b)))


def paired(baseline: Path, runs: list[Path]) -> None:
    base = model_images(baseline)
    print("| run | " + " | ".join(METRICS) + " | PSNR vs baseline (dB) |")
    for run in runs:
        items = model_images(run)
        cells = []
        for metric in METRICS:
            mean, error = mean_and_error([item[metric] - base[key][metric] for key, item in items.items()])
            cells.append(f"{mean:+.3f} ± {error:.3f}")
        mean, error = mean_and_error([picture_psnr(run / item["path"], baseline / base[key]["path"]) for key, item in items.items()])
        print(f"| {run.name} | " + " | ".join(cells) + f" | {mean:.1f} ± {error:.1f} |")


def grid(run: Path, rows: list[str], out: Path, scale: float) -> None:
    subjects = len(json.loads((run / "report.json").read_text())["subjects"])
    overviews = [Image.open(run / row / "overview.png").convert("RGB") for row in rows]
    width, height = overviews[0].size
    tile = height // subjects
    sheet = Image.new("RGB", (width, tile * subjects * len(rows)), "white")
    for subject in range(subjects):
        for index, overview in enumerate(overviews):
            strip = overview.crop((0, subject * tile, width, (subject + 1) * tile))
            sheet.paste(strip, (0, (subject * len(rows) + index) * tile))
    size = (round(sheet.width * scale), round(sheet.height * scale))
    sheet.resize(size, Image.Resampling.LANCZOS).save(out, quality=85)
    print(f"{out}: {len(rows)} rows x {subjects} subjects, {size[0]}x{size[1]}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("attributes").add_argument("run", type=Path)
    pairs = actions.add_parser("paired")
    pairs.add_argument("baseline", type=Path)
    pairs.add_argument("runs", type=Path, nargs="+")
    sheet = actions.add_parser("grid")
    sheet.add_argument("run", type=Path)
    sheet.add_argument("rows", nargs="+", help="row folders of the run, in the order drawn")
    sheet.add_argument("--out", type=Path, required=True)
    sheet.add_argument("--scale", type=float, default=2 / 3)
    args = parser.parse_args(argv)
    if args.action == "attributes":
        attributes(args.run)
    elif args.action == "paired":
        paired(args.baseline, args.runs)
    else:
        grid(args.run, args.rows, args.out, args.scale)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
