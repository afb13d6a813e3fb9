"""How well the toy model's canny ControlNet places the subject (the numbers of its model card).

    .venv/bin/python benchmarks/toy_controlnet.py [--model assets/models/toy/blip-diffusion] [--count 32]

Toy photos of a seed no training run uses give the control maps (their canny edges); the model draws
the bundled demo subject (the striped ball) "on" each photo's scene, with and without the ControlNet.
Printed: the mean distance between the subject's centre as the oracle reads it in the picture and in
the control photo, and the F1 of the picture's canny edges against the control map (1-pixel tolerance).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import binary_dilation

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.control_images import canny_edges
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline, load_controlnets
from blip_diffusion.pipelines.schedulers import make_scheduler
from blip_diffusion.toyworld.oracle import load_oracle, read
from blip_diffusion.training.data import ToyCaptions

ROOT = Path(__file__).resolve().parents[1]
SUBJECT = sorted((ROOT / "assets" / "toyworld" / "demo-subject").glob("*.png"))
UNSEEN_SEED = 99
BATCH = 8


def edge_f1(picture: Image.Image, control: Image.Image) -> float:
    drawn, wanted = (np.asarray(image)[..., 0] > 127 for image in (canny_edges(picture), control))
    precision = (drawn & binary_dilation(wanted)).sum() / max(drawn.sum(), 1)
    recall = (wanted & binary_dilation(drawn)).sum() / max(wanted.sum(), 1)
    return float(2 * precision * recall / max(precision + recall, 1e-9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "assets" / "models" / "toy" / "blip-diffusion")
    parser.add_argument("--count", type=int, default=32)
    args = parser.parse_args()
    data = ToyCaptions(UNSEEN_SEED, 64, "prompt")
    items = [data[i] for i in range(args.count)]
    photos = [Image.fromarray(item["image"]) for item in items]
    controls = [canny_edges(photo) for photo in photos]
    contexts = [item["caption"].split(" ", 2)[2] for item in items]  # "a star on the beach" -> "on the beach"
    oracle = load_oracle(ROOT / "assets" / "toyworld" / "oracle.safetensors")
    wanted_centres = read(oracle, photos).poses[:, :2]

    pipe = BlipDiffusionPipeline.from_pretrained(args.model)
    pipe.scheduler = make_scheduler("dpm", pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    control_pipe = BlipDiffusionControlNetPipeline.from_base(pipe, load_controlnets(args.model, None))
    subject = pipe.encode_subject(SUBJECT, "ball")
    for name, model, extra in (("without", pipe, False), ("with", control_pipe, True)):
        pictures = []
        for first in range(0, args.count, BATCH):
            batch = slice(first, first + BATCH)
            kwargs = {"control_image": controls[batch]} if extra else {}
            seeds = range(first, first + len(contexts[batch]))
            pictures += model(prompt=contexts[batch], reference_image=subject, source_subject_category="ball",
                              target_subject_category="ball", num_inference_steps=20, height=64, width=64,
                              generator=[torch.Generator().manual_seed(seed) for seed in seeds], **kwargs).images
        centres = read(oracle, pictures).poses[:, :2]
        error_px = np.linalg.norm(centres - wanted_centres, axis=1).mean() * 64
        f1 = np.mean([edge_f1(p, c) for p, c in zip(pictures, controls, strict=True)])
        print(f"{name:7s} ControlNet: subject centre {error_px:.1f} px from the control photo's, edge F1 {f1:.3f}")


if __name__ == "__main__":
    main()
