"""``blip-diffusion toybench``: ToyBench, DreamBench for the toy world, measured exactly by the oracle.

Rows: ground-truth renders (upper bound), the BLIP-Diffusion model of ``--model``, and with
``--base-model`` a text-to-image model given class-only prompts (lower bound) and full captions
(text-only oracle). Rerunning with the same ``--out`` keeps the pictures already made.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from blip_diffusion.cli.common import REPO_ROOT, resolve_device
from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.pipeline_generator import DTYPES, GenerationSettings, PipelineGenerator
from blip_diffusion.toyworld.adapters import TextOnlyGenerator, TruthGenerator
from blip_diffusion.toyworld.bench import (
    CLASS_ONLY,
    FULL_CAPTION,
    GROUND_TRUTH,
    MODEL,
    Row,
    prepare_bench,
    run_toybench,
)
from blip_diffusion.toyworld.bench_report import REPORT_MD
from blip_diffusion.toyworld.benchset import MAX_SUBJECTS
from blip_diffusion.toyworld.oracle import load_oracle

DEFAULT_ORACLE = REPO_ROOT / "assets" / "toyworld" / "oracle.safetensors"
_SAMPLING = GenerationSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="BLIP-Diffusion model folder")
    parser.add_argument("--out", required=True, type=Path, help="output folder (rerun with it to resume)")
    parser.add_argument(
        "--base-model",
        default=None,
        help="text-to-image model folder (diffusers layout) for the class-only and full-caption rows",
    )
    parser.add_argument("--samples-per-prompt", type=int, default=4, help="pictures per (subject, prompt)")
    parser.add_argument(
        "--subjects", type=int, default=30, help=f"use the first N ToyBench subjects (1 to {MAX_SUBJECTS})"
    )
    parser.add_argument(
        "--resolution", type=int, default=64, help="side of reference photos and generated pictures"
    )
    parser.add_argument("--steps", type=int, default=_SAMPLING.num_inference_steps, help="denoising steps")
    parser.add_argument(
        "--guidance", type=float, default=_SAMPLING.guidance_scale, help="classifier-free guidance"
    )
    parser.add_argument("--negative-prompt", default=_SAMPLING.negative_prompt, help="what to avoid")
    parser.add_argument(
        "--scheduler", default=_SAMPLING.scheduler, help="sampler: pndm, ddim, dpm, euler, euler_a"
    )
    parser.add_argument("--seed", type=int, default=0, help="base seed; each picture's seed derives from it")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE, help="oracle weights (.safetensors)")
    parser.add_argument("--qformer-tokenizer", default=None, help="folder of the Q-Former's BERT tokenizer")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="weight precision")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check(args: argparse.Namespace) -> None:
    for name, value in (("samples-per-prompt", args.samples_per_prompt), ("steps", args.steps)):
        if value < 1:
            raise InputError(f"--{name} must be at least 1, got {value}")
    if not 1 <= args.subjects <= MAX_SUBJECTS:
        raise InputError(f"--subjects must be 1 to {MAX_SUBJECTS}, got {args.subjects}")
    if args.resolution < 16 or args.resolution % 8:
        raise InputError(f"--resolution must be a multiple of 8 and at least 16, got {args.resolution}")


@functools.cache
def _base_pipeline(model: str, dtype: str, scheduler: str, device: str) -> Any:
    from diffusers import DiffusionPipeline

    from blip_diffusion.pipelines.schedulers import make_scheduler

    if not Path(model).is_dir():
        raise InputError(f"--base-model {model!r} is not a folder; expected a text-to-image model folder")
    pipe = DiffusionPipeline.from_pretrained(model, torch_dtype=DTYPES[dtype])
    pipe.scheduler = make_scheduler(scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def _rows(args: argparse.Namespace, bench: Any, device: str) -> list[Row]:
    size = args.resolution
    settings = GenerationSettings(
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        height=size,
        width=size,
        negative_prompt=args.negative_prompt,
        scheduler=args.scheduler,
    )
    rows = [
        Row(
            GROUND_TRUTH,
            "ground-truth renders (upper bound)",
            lambda: TruthGenerator(bench, size),
            "ground-truth renders",
            GenerationSettings(height=size, width=size),
        ),
        Row(
            MODEL,
            f"BLIP-Diffusion `{args.model}`",
            lambda: PipelineGenerator.from_pretrained(
                args.model, bench.photos, settings, args.qformer_tokenizer, args.dtype, device
            ),
            args.model,
            settings,
            args.dtype,
            args.qformer_tokenizer,
        ),
    ]
    if args.base_model:
        base = functools.partial(_base_pipeline, args.base_model, args.dtype, args.scheduler, device)
        rows += [
            Row(
                CLASS_ONLY,
                f"`{args.base_model}`, class-only prompts (lower bound)",
                lambda: TextOnlyGenerator(base(), bench, settings, full_captions=False),
                args.base_model,
                settings,
                args.dtype,
            ),
            Row(
                FULL_CAPTION,
                f"`{args.base_model}`, full captions (text-only oracle)",
                lambda: TextOnlyGenerator(base(), bench, settings, full_captions=True),
                args.base_model,
                settings,
                args.dtype,
            ),
        ]
    return rows


def run(args: argparse.Namespace) -> int:
    _check(args)
    device = str(resolve_device(args.device))
    oracle = load_oracle(args.oracle, device)  # before any generation: a missing oracle fails fast
    bench = prepare_bench(args.out, args.subjects, args.samples_per_prompt, args.seed, args.resolution)
    settings = {
        "model": args.model,
        "base_model": args.base_model,
        "samples_per_prompt": args.samples_per_prompt,
        "subjects": args.subjects,
        "resolution": args.resolution,
        "steps": args.steps,
        "guidance": args.guidance,
        "scheduler": args.scheduler,
        "seed": args.seed,
        "oracle": str(args.oracle),
    }
    report = run_toybench(
        bench, _rows(args, bench, device), args.out, oracle, settings, progress=not args.no_progress
    )
    for name, row in report["rows"].items():
        scores = row["all"]
        print(
            f"{name}: subject fidelity {scores['subject_fidelity']:.3f}  "
            f"identity cosine {scores['identity_cosine']:.3f}  "
            f"text fidelity {scores['text_fidelity']:.3f}  copy {scores['copy']:.3f}"
        )
    print(f"report: {args.out / REPORT_MD}")
    return 0
