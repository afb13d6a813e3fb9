"""``blip-diffusion eval dreambench``: generate DreamBench, score DINO / CLIP-I / CLIP-T, write reports.

Under ``accelerate launch`` every process generates its share of the images; the main process then
scores them all and writes the reports. Rerunning with the same ``--out`` resumes.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING

from blip_diffusion.cli.common import add_feature_cache_argument, check_feature_cache, output_folder
from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.finetuned_generators import FinetuneSettings
from blip_diffusion.evaluation.pipeline_generator import DTYPES, GenerationSettings
from blip_diffusion.evaluation.report import REPORT_MD, format_score
from blip_diffusion.evaluation.runner import (
    EvalConfig,
    evaluate,
    generate_shard,
    make_generator,
    plan,
    prepare_output,
)
from blip_diffusion.pipelines.schedulers import SCHEDULERS

if TYPE_CHECKING:
    from accelerate import PartialState

_SAMPLING = GenerationSettings()
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(EvalConfig)}
_AT_LEAST_ONE = ("images_per_prompt", "max_prompts", "steps", "metric_batch_size")


def _size(text: str) -> tuple[int, int]:
    """'512x384' -> (width 512, height 384)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"size must look like 512x512 (WIDTHxHEIGHT), got {text!r}"
        ) from error
    return width, height


def _add_dreambench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", required=True, help="BLIP-Diffusion model folder or Hub id (Salesforce/blipdiffusion)"
    )
    parser.add_argument(
        "--data",
        required=True,
        type=Path,
        help="DreamBench folder: prompts_and_classes.txt and one folder of photos per subject",
    )
    parser.add_argument("--out", required=True, type=output_folder, help="output folder (rerun with it to resume)")
    parser.add_argument(
        "--qformer-tokenizer",
        default=None,
        help="folder of the Q-Former's BERT tokenizer (default: the model's own, else bert-base-uncased)",
    )
    parser.add_argument(
        "--subjects",
        nargs="+",
        default=None,
        metavar="NAME",
        help="subjects to evaluate (default: every subject folder under --data)",
    )
    parser.add_argument(
        "--images-per-prompt",
        type=int,
        default=_DEFAULTS["images_per_prompt"],
        help="samples per (subject, prompt)",
    )
    parser.add_argument(
        "--max-prompts",
        type=int,
        default=None,
        help="use only each subject's first N prompts (default: all 25)",
    )
    parser.add_argument(
        "--seed", type=int, default=_DEFAULTS["seed"], help="base seed; each image's seed derives from it"
    )
    parser.add_argument("--steps", type=int, default=_SAMPLING.num_inference_steps, help="denoising steps")
    parser.add_argument(
        "--guidance", type=float, default=_SAMPLING.guidance_scale, help="classifier-free guidance"
    )
    parser.add_argument(
        "--size", type=_size, default=(_SAMPLING.width, _SAMPLING.height), metavar="WxH", help="image size"
    )
    parser.add_argument("--negative-prompt", default=_SAMPLING.negative_prompt, help="what to avoid")
    parser.add_argument(
        "--scheduler", default=_SAMPLING.scheduler, choices=sorted(SCHEDULERS), help="sampler"
    )
    add_feature_cache_argument(parser)
    parser.add_argument(
        "--dtype", default=_DEFAULTS["dtype"], choices=sorted(DTYPES), help="weight precision"
    )
    parser.add_argument("--dino-model", default=_DEFAULTS["dino_model"], help="DINO ViT: Hub id or folder")
    parser.add_argument(
        "--clip-model",
        default=_DEFAULTS["clip_model"],
        help="CLIP: Hub id or folder (e.g. openai/clip-vit-large-patch14)",
    )
    parser.add_argument(
        "--metric-batch-size",
        type=int,
        default=_DEFAULTS["metric_batch_size"],
        help="images per DINO / CLIP forward pass",
    )
    parser.add_argument(
        "--finetune-steps",
        type=int,
        default=0,
        help="fine-tune on each subject's photos for this many steps before generating (default 0: zero-shot)",
    )
    parser.add_argument(
        "--finetune-method",
        default="blip-diffusion",
        choices=["blip-diffusion", "dreambooth"],
        help="blip-diffusion (LoRA + subject embedding) or dreambooth (--model is then a text-to-image folder)",
    )
    parser.add_argument("--lora-rank", type=int, default=4, help="LoRA rank when fine-tuning (0: whole UNet)")
    parser.add_argument(
        "--finetune-lr", type=float, default=0.0, help="fine-tuning learning rate (default: the trainer's)"
    )
    parser.add_argument("--prompt-reps", type=int, default=1, help="copies of the fine-tuning caption")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``eval BENCHMARK [flags]``; DreamBench is the one benchmark so far."""
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    help_text = "DreamBench (30 subjects x 25 prompts): DINO, CLIP-I and CLIP-T beside the published scores"
    _add_dreambench_arguments(benchmarks.add_parser("dreambench", help=help_text, description=help_text))


def config_from_args(args: argparse.Namespace) -> EvalConfig:
    """The run's configuration from the parsed flags; counts below 1 are refused."""
    for name in _AT_LEAST_ONE:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    width, height = args.size
    sampling = GenerationSettings(
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        height=height,
        width=width,
        negative_prompt=args.negative_prompt,
        scheduler=args.scheduler,
        feature_cache=check_feature_cache(args.feature_cache),
    )
    return EvalConfig(
        model=args.model,
        data=args.data,
        out=args.out,
        qformer_tokenizer=args.qformer_tokenizer,
        subjects=tuple(args.subjects or ()),
        images_per_prompt=args.images_per_prompt,
        max_prompts=args.max_prompts,
        seed=args.seed,
        generation=sampling,
        dtype=args.dtype,
        dino_model=args.dino_model,
        clip_model=args.clip_model,
        metric_batch_size=args.metric_batch_size,
        finetune=FinetuneSettings(
            args.finetune_steps, args.finetune_method, args.lora_rank, args.finetune_lr, args.prompt_reps
        ),
    )


def _process_state() -> PartialState:
    """accelerate's view of the launch.

    CPU processes need ACCELERATE_USE_CPU=1 (which ``accelerate launch --cpu`` sets) to be joined into
    one group; without it each would redo the whole work list, so such a launch is refused.
    """
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    launched = int(os.environ.get("WORLD_SIZE", "1"))
    if launched != state.num_processes:
        raise InputError(
            f"launched as {launched} processes but accelerate set up {state.num_processes}; "
            "for processes on CPU set ACCELERATE_USE_CPU=1"
        )
    return state


def run(args: argparse.Namespace) -> int:
    """Generate this process's missing images, then (main process) score them and write the reports."""
    config = config_from_args(args)
    subjects, requests = plan(config)
    state = _process_state()
    prepare_output(config, write=state.is_main_process)
    photos = {subject.name: subject.images for subject in subjects}
    progress = state.is_main_process and not args.no_progress
    if config.finetune.steps and state.num_processes > 1:
        raise InputError("--finetune-steps runs in one process (each subject is fine-tuned once, in order)")
    generate_shard(
        config,
        requests,
        make_generator(config, photos, state.device),
        state.process_index,
        state.num_processes,
        progress,
    )
    state.wait_for_everyone()
    if not state.is_main_process:
        return 0
    report = evaluate(config, subjects, requests, state.device, progress)
    scores, real = report["scores"], report["real"]
    print(
        f"{scores['images']} images of {len(subjects)} subjects: DINO {scores['dino']:.3f}  "
        f"CLIP-I {scores['clip_i']:.3f}  CLIP-T {scores['clip_t']:.3f}"
    )
    print(
        f"real images (upper bound): DINO {format_score(real['dino'])}  CLIP-I {format_score(real['clip_i'])}"
    )
    print(f"report: {Path(config.out) / REPORT_MD}")
    return 0
