"""``blip-diffusion finetune``: fine-tune a model on one subject's photos (BLIP-Diffusion Sec. 3.4).

The result is a folder that ``pipe.load_subject(DIR)`` loads (LoRA: a few MB); ``--method dreambooth``
trains the DreamBooth-style baseline with the same trainer (``a sks {class}``, no subject embedding).
"""

from __future__ import annotations

import argparse

from blip_diffusion.cli.common import output_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="BLIP-Diffusion model folder (dreambooth: any text-to-image folder)")
    parser.add_argument("--subject", required=True, nargs="+", help="photos of the subject")
    parser.add_argument("--subject-class", required=True, help="the subject's class word, e.g. dog")
    parser.add_argument("--out", type=output_folder, required=True, help="output folder")
    parser.add_argument("--steps", type=int, default=None, help="optimizer steps (default 40)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--lora-rank", type=int, default=None, help="LoRA rank of the UNet (default 4)")
    group.add_argument("--full-unet", action="store_true", help="train the whole UNet instead of a LoRA")
    parser.add_argument("--method", default=None, choices=["blip-diffusion", "dreambooth"],
                        help="blip-diffusion (default) or the DreamBooth-style baseline")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-4 LoRA, 5e-6 full UNet)")
    parser.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    parser.add_argument("--prompt-reps", type=int, default=None,
                        help="copies of the caption (default 1; 20 for a model trained with stage 2's prompt_reps=20)")
    parser.add_argument("--qformer-tokenizer", default=None, help="folder of the Q-Former's BERT tokenizer")
    parser.add_argument("--config", default=None, help="TOML or YAML file of further overrides")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")


def run(args: argparse.Namespace) -> int:
    from blip_diffusion.training.config import build, merge, read_file
    from blip_diffusion.training.finetune import FinetuneConfig, finetune

    flags = {"model": args.model, "subject": list(args.subject), "subject_class": args.subject_class,
             "out": str(args.out), "method": args.method, "lora_rank": 0 if args.full_unet else args.lora_rank,
             "learning_rate": args.lr, "qformer_tokenizer": args.qformer_tokenizer, "prompt_reps": args.prompt_reps,
             "run": {"max_steps": args.steps, "seed": args.seed}}
    values = merge(read_file(args.config) if args.config else {}, _given(flags))
    config = build(FinetuneConfig, values)
    out = finetune(config, resume=args.resume)
    print(f"subject folder: {out}")
    return 0


def _given(values: dict) -> dict:
    """The flags that were set (None means: keep the config's default)."""
    out = {}
    for key, value in values.items():
        if isinstance(value, dict):
            value = _given(value)
        if value is not None and value != {}:
            out[key] = value
    return out
