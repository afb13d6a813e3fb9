"""Subject interpolation on the toy model: do the oracle's readings move from subject A to subject B
along the path? (The numbers of docs/results.md.)

    .venv/bin/python benchmarks/toy_interpolation.py [--model assets/models/toy/blip-diffusion]
        [--pairs 4] [--contexts 4] [--frames 7] [--grid docs/images/toy_interpolation.jpg]

Pairs of ToyBench subjects of the same class (subjects i and i + 10, whose colours, accent colours,
patterns and finishes differ) are interpolated with ``interpolate_subjects`` in a few context
prompts, spherically and linearly, every frame of a path with the same seed. For each frame
position the oracle reads the picture; printed per frame: the share of the attributes in which A and
B differ that it reads as B's and as A's, and the identity cosine with B's reference photos minus
that with A's. Each path's progress is the Spearman correlation of the frame weight with that cosine
difference (1: B's identity grows monotonically along the path).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from toy_probe import CONTEXTS, STEPS, TOY_MODEL, grid, oracle, toy_pipeline

from blip_diffusion.pipelines.interpolation import interpolate_subjects, path_progress
from blip_diffusion.toyworld.bench import reference_embeddings
from blip_diffusion.toyworld.benchset import bench_subjects
from blip_diffusion.toyworld.metrics import identity_cosine
from blip_diffusion.toyworld.oracle import read
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES

PARTNER_OFFSET = 10  # ToyBench subject i + 10 has subject i's class


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=TOY_MODEL)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--contexts", type=int, default=4)
    parser.add_argument("--frames", type=int, default=7)
    parser.add_argument("--grid", type=Path, default=None, help="write the spherical paths here (JPEG)")
    args = parser.parse_args()
    members = bench_subjects(args.pairs + PARTNER_OFFSET)
    pairs = [(members[i], members[i + PARTNER_OFFSET]) for i in range(args.pairs)]
    pipe = toy_pipeline(args.model)
    reader = oracle()
    embeddings = {m.name: pipe.encode_subject([p.pil() for p in m.references], m.subject.class_name)
                  for pair in pairs for m in pair}
    references = reference_embeddings([m for pair in pairs for m in pair], reader)

    print(f"{args.pairs} pairs x {args.contexts} context prompts, {args.frames} frames, {STEPS} DPM-Solver++ steps")
    for method in ("spherical", "linear"):
        shares_b, shares_a, cosine_gaps, progress, rows = [], [], [], [], []
        for a, b in pairs:
            differ = [n for n in IDENTITY_ATTRIBUTES if getattr(a.subject, n) != getattr(b.subject, n)]
            for seed, context in enumerate(CONTEXTS[: args.contexts]):
                path = interpolate_subjects(pipe, context, embeddings[a.name], embeddings[b.name],
                                            num_frames=args.frames, method=method, seed=seed,
                                            num_inference_steps=STEPS, height=64, width=64)
                readings = read(reader, path.frames)
                words = [readings.words(i) for i in range(args.frames)]
                shares_b.append([np.mean([w[n] == getattr(b.subject, n) for n in differ]) for w in words])
                shares_a.append([np.mean([w[n] == getattr(a.subject, n) for n in differ]) for w in words])
                gap = [identity_cosine(e, references[b.name]) - identity_cosine(e, references[a.name])
                       for e in readings.embeddings]
                cosine_gaps.append(gap)
                progress.append(path_progress(path.weights, gap))
                rows.append([a.references[0].pil(), *path.frames, b.references[0].pil()])
        print(f"\n{method}: path progress {np.mean(progress):.2f} (mean over {len(progress)} paths; "
              f"{np.mean(np.array(progress) > 0):.0%} of paths positive)")
        print("| weight of B | attributes read as B's | attributes read as A's | identity cosine B - A |")
        print("|---|---|---|---|")
        for frame, weight in enumerate(path.weights):
            print(f"| {weight:.2f} | {np.mean([s[frame] for s in shares_b]):.2f} | "
                  f"{np.mean([s[frame] for s in shares_a]):.2f} | {np.mean([g[frame] for g in cosine_gaps]):+.3f} |")
        if args.grid and method == "spherical":
            grid(rows[:: args.contexts // 2 or 1], args.grid)
            print(f"grid: {args.grid} (per row: a photo of A, the frames, a photo of B)")


if __name__ == "__main__":
    main()
