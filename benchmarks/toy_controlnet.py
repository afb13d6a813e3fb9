"""Structure control on the toy model: do generated silhouettes follow the canny map while the
subject's identity holds? (The numbers of docs/results.md and the toy model card.)

    .venv/bin/python benchmarks/toy_controlnet.py [--model assets/models/toy/blip-diffusion]
        [--subjects 4] [--per-subject 8] [--grid docs/images/toy_controlnet.jpg]

For each ToyBench subject, control photos are drawn from a seed no training run uses: another subject
of the same class and pattern (other colours and finish) at a random pose, size and scene. Their canny
edges are the control maps; the model draws the ToyBench subject (from its reference photos) in the
control photo's scene, with and without the ControlNet, with the same seeds. Printed per row:

- silhouette IoU: the oracle's map of the share of each 8x8-pixel cell the subject covers, against
  the control photo's true shares (soft IoU: sum of minima over sum of maxima); the row "subject
  rendered at the control pose" is the ground truth, the measure's ceiling at this resolution;
- the distance between the subject's centre in the picture and in the control photo;
- edge F1 of the picture's canny edges against the control map (1-pixel tolerance);
- identity: the share of the subject's five identity attributes the oracle reads, and the cosine of
  the oracle's identity embedding with the subject's reference photos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from scipy.ndimage import binary_dilation
from toy_probe import STEPS, TOY_MODEL, agreement, grid, oracle, toy_pipeline

from blip_diffusion.pipelines.control_images import canny_edges
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline, load_controlnets
from blip_diffusion.toyworld.bench import reference_embeddings
from blip_diffusion.toyworld.benchset import bench_subjects
from blip_diffusion.toyworld.metrics import identity_cosine
from blip_diffusion.toyworld.oracle import MASK_CELL, Oracle, read, to_tensor
from blip_diffusion.toyworld.photos import Photo, random_photo, render_photo
from blip_diffusion.toyworld.render import random_lighting
from blip_diffusion.toyworld.scenes import CONTEXT_SCENES
from blip_diffusion.toyworld.subjects import Subject, random_subject

UNSEEN_SEED = 99
BATCH = 8
PHRASES = {scene.name: scene.phrase for scene in CONTEXT_SCENES}


def control_photo(rng: np.random.Generator, subject: Subject) -> Photo:
    """A photo of another subject with ``subject``'s class and pattern, in a context scene."""
    while True:
        other = random_subject(rng, held_out=None)
        if other.colour != subject.colour:
            other = other.with_changes(class_name=subject.class_name, pattern=subject.pattern)
            return random_photo(rng, other, 64, scenes=tuple(PHRASES))


@torch.no_grad()
def oracle_coverage(model: Oracle, pictures: list[Image.Image]) -> np.ndarray:
    """(N, 8, 8): the share of each 8x8-pixel cell of a 64-px picture the oracle sees the subject cover."""
    model.eval()
    return torch.sigmoid(model(to_tensor(pictures, model.config.resolution)).mask).numpy()


def true_coverage(photo: Photo) -> np.ndarray:
    cells = photo.alpha.shape[0] // MASK_CELL
    return photo.alpha.reshape(cells, MASK_CELL, cells, MASK_CELL).mean(axis=(1, 3))


def soft_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum() / max(np.maximum(a, b).sum(), 1e-9))


def edge_f1(picture: Image.Image, control: Image.Image) -> float:
    drawn, wanted = (np.asarray(image)[..., 0] > 127 for image in (canny_edges(picture), control))
    precision = (drawn & binary_dilation(wanted)).sum() / max(drawn.sum(), 1)
    recall = (wanted & binary_dilation(drawn)).sum() / max(wanted.sum(), 1)
    return float(2 * precision * recall / max(precision + recall, 1e-9))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=TOY_MODEL)
    parser.add_argument("--subjects", type=int, default=4)
    parser.add_argument("--per-subject", type=int, default=8)
    parser.add_argument("--grid", type=Path, default=None, help="write the first subjects' pictures here (JPEG)")
    args = parser.parse_args()
    members = bench_subjects(args.subjects)
    rng = np.random.default_rng(UNSEEN_SEED)
    jobs = [(member, control_photo(rng, member.subject)) for member in members for _ in range(args.per_subject)]
    controls = [canny_edges(photo.pil()) for _, photo in jobs]
    wanted_coverage = [true_coverage(photo) for _, photo in jobs]
    reader = oracle()
    wanted_centres = np.array([[photo.pose.cx, photo.pose.cy] for _, photo in jobs])

    pipe = toy_pipeline(args.model)
    control_pipe = BlipDiffusionControlNetPipeline.from_base(pipe, load_controlnets(args.model, None))
    control_pipe.set_progress_bar_config(disable=True)
    embeddings = {member.name: pipe.encode_subject([p.pil() for p in member.references], member.subject.class_name)
                  for member in members}
    truth = [render_photo(member.subject, photo.scene, photo.pose, random_lighting(rng), rng, 64).pil()
             for member, photo in jobs]
    rows = {"subject rendered at the control pose (ceiling)": truth}
    for name, model in (("without ControlNet", pipe), ("with ControlNet", control_pipe)):
        pictures = []
        for member in members:
            mine = [i for i, (owner, _) in enumerate(jobs) if owner is member]
            for first in range(0, len(mine), BATCH):
                batch = mine[first:first + BATCH]
                kwargs = {"control_image": [controls[i] for i in batch]} if model is control_pipe else {}
                pictures += model(prompt=[PHRASES[jobs[i][1].scene] for i in batch],
                                  reference_image=embeddings[member.name],
                                  target_subject_category=member.subject.class_name, num_inference_steps=STEPS,
                                  height=64, width=64, generator=[torch.Generator().manual_seed(i) for i in batch],
                                  **kwargs).images
        rows[name] = pictures

    references = reference_embeddings(members, reader)
    print(f"{len(jobs)} pictures a row ({args.subjects} ToyBench subjects x {args.per_subject} control photos), "
          f"{STEPS} DPM-Solver++ steps")
    print("| row | silhouette IoU | centre error (px) | edge F1 | identity attributes | identity cosine |")
    print("|---|---|---|---|---|---|")
    for name, pictures in rows.items():
        readings = read(reader, pictures)
        ious = [soft_iou(c, w) for c, w in zip(oracle_coverage(reader, pictures), wanted_coverage, strict=True)]
        error_px = np.linalg.norm(readings.poses[:, :2] - wanted_centres, axis=1) * 64
        f1 = [edge_f1(p, c) for p, c in zip(pictures, controls, strict=True)]
        identity = [agreement(readings, i, member.subject) for i, (member, _) in enumerate(jobs)]
        cosine = [identity_cosine(readings.embeddings[i], references[member.name]) for i, (member, _) in enumerate(jobs)]
        print(f"| {name} | {np.mean(ious):.3f} | {np.mean(error_px):.1f} | {np.mean(f1):.3f} | "
              f"{np.mean(identity):.3f} | {np.mean(cosine):.3f} |")
    if args.grid:
        shown = [i for i, (member, _) in enumerate(jobs) if member.index < 2]
        grid([[jobs[i][1].pil() for i in shown], [controls[i] for i in shown]]
             + [[pictures[i] for i in shown] for pictures in rows.values()], args.grid)
        print(f"grid: {args.grid} (rows: control photo, control map, then the rows above)")


if __name__ == "__main__":
    main()
