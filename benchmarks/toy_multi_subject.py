"""Two subjects in one prompt on the toy model: are both there, and does either take the other's
attributes? (The numbers of docs/results.md.)

    .venv/bin/python benchmarks/toy_multi_subject.py [--model assets/models/toy/blip-diffusion]
        [--pairs 4] [--contexts 4] [--samples 2] [--grid docs/images/toy_multi_subject.jpg]

Pairs of ToyBench subjects of different classes (subjects 2k and 2k + 1) are drawn side by side,
"a [a] star and a [b] ball on the beach", 128 x 64 pixels, subject A on the left and B on the right:
once with regional cross-attention (each subject's embeddings seen only from its half) and once
without regions. Each half is read by the oracle as a 64 x 64 picture. Printed per row:

- own attributes: the share of a half's subject's five identity attributes the oracle reads there;
- other's attributes: in the attributes where the two subjects differ, the share read as the other
  subject's (identity bleeding, attribute by attribute);
- bleeding rate: the share of halves whose identity embedding is at least as close to the other
  subject's reference photos as to their own (``bleeding_rate``); both present: the share of pictures
  where neither half bleeds.

The row "each subject alone" draws each subject by itself ("a star on the beach", 64 x 64) with the
same seeds: what the model gives one subject at a time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from toy_probe import CONTEXTS, STEPS, TOY_MODEL, agreement, grid, oracle, toy_pipeline

from blip_diffusion.pipelines.multi_subject import (
    PromptSubject,
    bleeding_rate,
    crop_region,
    generate_multi_subject,
)
from blip_diffusion.toyworld.bench import reference_embeddings
from blip_diffusion.toyworld.benchset import BenchSubject, bench_subjects
from blip_diffusion.toyworld.metrics import identity_cosine
from blip_diffusion.toyworld.oracle import read
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES

SIDES = ("left", "right")


def other_share(readings, index: int, own: BenchSubject, other: BenchSubject) -> float:
    """In the attributes where ``own`` and ``other`` differ, the share read as ``other``'s."""
    differ = tuple(n for n in IDENTITY_ATTRIBUTES if getattr(own.subject, n) != getattr(other.subject, n))
    return agreement(readings, index, other.subject, differ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=TOY_MODEL)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--contexts", type=int, default=4)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--grid", type=Path, default=None, help="write the first samples here (JPEG)")
    args = parser.parse_args()
    members = bench_subjects(2 * args.pairs)
    pairs = [(members[2 * k], members[2 * k + 1]) for k in range(args.pairs)]
    pipe = toy_pipeline(args.model)
    reader = oracle()
    embeddings = {m.name: pipe.encode_subject([p.pil() for p in m.references], m.subject.class_name)
                  for m in members}
    references = reference_embeddings(members, reader)
    jobs = [(a, b, context, sample) for a, b in pairs for context in CONTEXTS[: args.contexts]
            for sample in range(args.samples)]

    def seeds(sample: int) -> list[torch.Generator]:
        return [torch.Generator().manual_seed(sample)]

    # halves[row] = [(picture of the half, its subject, the other subject)], two per job
    halves: dict[str, list] = {}
    shown: dict[str, list] = {}
    for row, regions in (("regions (left / right)", SIDES), ("no regions", (None, None))):
        halves[row], shown[row] = [], []
        for a, b, context, sample in jobs:
            subjects = {side: PromptSubject(embeddings[m.name], region=region)
                        for side, m, region in zip(("a", "b"), (a, b), regions)}
            prompt = f"a [a] {a.subject.class_name} and a [b] {b.subject.class_name} {context}"
            picture = generate_multi_subject(pipe, prompt, subjects, num_inference_steps=STEPS, height=64, width=128,
                                             generator=seeds(sample)).images[0]
            halves[row] += [(crop_region(picture, "left"), a, b), (crop_region(picture, "right"), b, a)]
            shown[row].append(picture)
    halves["each subject alone"] = []
    for a, b, context, sample in jobs:
        for own, other in ((a, b), (b, a)):
            picture = pipe(context, embeddings[own.name], target_subject_category=own.subject.class_name,
                           num_inference_steps=STEPS, height=64, width=64, generator=seeds(sample)).images[0]
            halves["each subject alone"].append((picture, own, other))

    print(f"{len(jobs)} pictures a row ({args.pairs} pairs x {args.contexts} context prompts x {args.samples} "
          f"samples), {STEPS} DPM-Solver++ steps")
    print("| row | own attributes | other's attributes | bleeding rate | both present |")
    print("|---|---|---|---|---|")
    for row, entries in halves.items():
        readings = read(reader, [picture for picture, _, _ in entries])
        own = [agreement(readings, i, mine.subject) for i, (_, mine, _) in enumerate(entries)]
        other = [other_share(readings, i, mine, theirs) for i, (_, mine, theirs) in enumerate(entries)]
        own_cos = [identity_cosine(e, references[mine.name]) for e, (_, mine, _) in zip(readings.embeddings, entries)]
        other_cos = [identity_cosine(e, references[theirs.name]) for e, (_, _, theirs) in zip(readings.embeddings, entries)]
        bleeds = np.array(other_cos) >= np.array(own_cos)
        both = np.mean(~bleeds.reshape(-1, 2).any(axis=1))
        print(f"| {row} | {np.mean(own):.3f} | {np.mean(other):.3f} | {bleeding_rate(own_cos, other_cos):.3f} | "
              f"{both:.3f} |")
    if args.grid:
        first = [i for i, job in enumerate(jobs) if job[3] == 0]
        alone = halves["each subject alone"]
        grid([[jobs[i][0].references[0].pil(), jobs[i][1].references[0].pil(), *(shown[row][i] for row in shown),
               alone[2 * i][0], alone[2 * i + 1][0]] for i in first], args.grid)
        print(f"grid: {args.grid} (per row: a photo of A, of B; regional attention, no regions; A alone, B alone)")

if __name__ == "__main__":
    main()
