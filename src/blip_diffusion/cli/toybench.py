"""``blip-diffusion toybench``: ToyBench, DreamBench for the toy world, measured exactly by the oracle.

Rows: ground-truth renders (upper bound), the BLIP-Diffusion model of ``--model``, and with
``--base-model`` the ground truth through its VAE (the upper bound of a latent model), and a
text-to-image model given class-only prompts (lower bound) and full captions (text-only oracle). Rerunning with the same ``--out`` keeps the pictures already made.
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path
from typing import Any

from blip_diffusion.cli.common import (
    REPO_ROOT,
    add_feature_cache_argument,
    check_feature_cache,
    output_folder,
    resolve_device,
)
from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.finetuned_generators import (
    FinetuneSettings,
    finetuned_generator,
    load_text_to_image,
    subject_tuner,
)
from blip_diffusion.evaluation.pipeline_generator import (
    DTYPES,
    GenerationSettings,
    PipelineGenerator,
)
from blip_diffusion.evaluation.report import REPORT_MD
from blip_diffusion.pipelines.model_folder import resolve_model_folder
from blip_diffusion.toyworld.adapters import TextOnlyGenerator, TruthGenerator, VaeRoundTripGenerator
from blip_diffusion.toyworld.bench import (
    CLASS_ONLY,
    FULL_CAPTION,
    GROUND_TRUTH,
    GROUND_TRUTH_VAE,
    MODEL,
    Row,
    prepare_bench,
    run_toybench,
)
from blip_diffusion.toyworld.benchset import MAX_SUBJECTS
from blip_diffusion.toyworld.oracle import load_oracle

DEFAULT_ORACLE = REPO_ROOT / "assets" / "toyworld" / "oracle.safetensors"
_SAMPLING = GenerationSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="BLIP-Diffusion model folder (without it: the --base-model rows only)"
    )
    parser.add_argument("--out", required=True, type=output_folder, help="output folder (rerun with it to resume)")
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
    add_feature_cache_argument(parser)
    parser.add_argument("--seed", type=int, default=0, help="base seed; each picture's seed derives from it")
    parser.add_argument("--oracle", type=Path, default=DEFAULT_ORACLE, help="oracle weights (.safetensors)")
    parser.add_argument("--qformer-tokenizer", default=None, help="folder of the Q-Former's BERT tokenizer")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="weight precision")
    parser.add_argument(
        "--finetune-steps",
        type=int,
        nargs="*",
        default=[],
        help="add a row per value: BLIP-Diffusion fine-tuned on each subject for that many steps",
    )
    parser.add_argument(
        "--dreambooth-steps",
        type=int,
        nargs="*",
        default=[],
        help="add a row per value: DreamBooth-style fine-tuning of --base-model for that many steps",
    )
    parser.add_argument(
        "--lora-rank", type=int, default=4, help="LoRA rank of the fine-tuned rows (0: whole UNet)"
    )
    parser.add_argument(
        "--finetune-lr", type=float, default=0.0, help="fine-tuning learning rate (default: the trainer's)"
    )
    parser.add_argument(
        "--prompt-reps",
        type=int,
        default=1,
        help="copies of the caption when fine-tuning BLIP-Diffusion (20 for a model trained with prompt_reps=20)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _check(args: argparse.Namespace) -> None:
    for name, value in (("samples-per-prompt", args.samples_per_prompt), ("steps", args.steps)):
        if value < 1:
            raise InputError(f"--{name} must be at least 1, got {value}")
    if not 1 <= args.subjects <= MAX_SUBJECTS:
        raise InputError(f"--subjects must be 1 to {MAX_SUBJECTS}, got {args.subjects}")
    if args.resolution < 16 or args.resolution % 8:
        raise InputError(f"--resolution must be a multiple of 8 and at least 16, got {args.resolution}")
    for name, values in (
        ("finetune-steps", args.finetune_steps),
        ("dreambooth-steps", args.dreambooth_steps),
    ):
        if any(value < 1 for value in values):
            raise InputError(f"--{name} must be at least 1, got {min(values)}")
    if not (args.model or args.base_model):
        raise InputError("toybench needs --model (BLIP-Diffusion), --base-model (text-to-image) or both")
    if args.finetune_steps and not args.model:
        raise InputError("--finetune-steps needs --model (the BLIP-Diffusion model to fine-tune)")
    if args.dreambooth_steps and not args.base_model:
        raise InputError("--dreambooth-steps needs --base-model (the text-to-image model to fine-tune)")
    if args.lora_rank < 0 or args.prompt_reps < 1:
        raise InputError(
            f"--lora-rank must be >= 0 and --prompt-reps >= 1, got {args.lora_rank}, {args.prompt_reps}"
        )


_base_pipeline = functools.cache(load_text_to_image)  # the text-only rows share one


def _rows(args: argparse.Namespace, bench: Any, device: str) -> list[Row]:
    size = args.resolution
    settings = GenerationSettings(
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        height=size,
        width=size,
        negative_prompt=args.negative_prompt,
        scheduler=args.scheduler,
        feature_cache=check_feature_cache(args.feature_cache),
    )
    rows = [
        Row(
            GROUND_TRUTH,
            "ground-truth renders (upper bound)",
            lambda: TruthGenerator(bench, size),
            "ground-truth renders",
            GenerationSettings(height=size, width=size),
        ),
    ]
    if args.model:
        rows.append(
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
            )
        )
    if args.base_model:
        base = functools.partial(_base_pipeline, args.base_model, settings, args.dtype, device)
        rows += [
            Row(
                GROUND_TRUTH_VAE,
                f"ground-truth renders through the VAE of `{args.base_model}` (latent upper bound)",
                lambda: VaeRoundTripGenerator(bench, size, base().vae),
                args.base_model,
                GenerationSettings(height=size, width=size),
                args.dtype,
            ),
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
    return rows + _finetuned_rows(args, bench, device, settings)


def _finetuned_rows(
    args: argparse.Namespace, bench: Any, device: str, settings: GenerationSettings
) -> list[Row]:
    """BLIP-Diffusion fine-tuned (--finetune-steps) and DreamBooth-style (--dreambooth-steps) rows."""
    rows = []
    runs = [("blip-diffusion", args.model, steps) for steps in args.finetune_steps]
    runs += [("dreambooth", args.base_model, steps) for steps in args.dreambooth_steps]
    for method, model, steps in runs:
        tune = FinetuneSettings(steps, method, args.lora_rank, args.finetune_lr, args.prompt_reps)
        tuner = subject_tuner(tune, model, args.out / "finetuned" / f"{method}-{steps}", args.qformer_tokenizer,
                              args.seed)  # fmt: skip
        make = functools.partial(
            finetuned_generator, tuner, bench.photos, settings, args.qformer_tokenizer, args.dtype, device
        )
        if method == "dreambooth":
            name, title = f"dreambooth_{steps}", f"DreamBooth-style fine-tuning of `{model}`, {steps} steps"
        else:
            name, title = f"{MODEL}_finetuned_{steps}", f"BLIP-Diffusion fine-tuned {steps} steps"
        rows.append(Row(name, title, make, model, settings, args.dtype, args.qformer_tokenizer, tuner))
    return rows


def run(args: argparse.Namespace) -> int:
    _check(args)
    device = str(resolve_device(args.device))
    oracle = load_oracle(args.oracle, device)  # before any generation: a missing oracle or model fails fast
    for model in filter(None, (args.model, args.base_model)):
        resolve_model_folder(model)
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
        "feature_cache": args.feature_cache,
        "seed": args.seed,
        "oracle": str(args.oracle),
        "lora_rank": args.lora_rank,
        "finetune_lr": args.finetune_lr,
        "prompt_reps": args.prompt_reps,
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
