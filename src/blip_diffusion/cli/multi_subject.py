"""``blip-diffusion multi-subject``: several subjects in one prompt, "a [dog] dog and a [cat] cat on the beach"."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from blip_diffusion.cli.common import add_model_arguments, load_pipeline
from blip_diffusion.cli.generate import (
    add_sampling_arguments,
    configure_sampling,
    sampling_settings,
    save_images,
    subject_input,
)
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.multi_subject import NAMED_REGIONS


def parse_named(text: str) -> tuple[str, str]:
    """'dog=a.jpg,b.jpg' -> ('dog', 'a.jpg,b.jpg')."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value.strip()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--prompt", required=True,
                        help='prompt with subjects as [NAME] before their class word: "a [dog] dog and a [cat] cat"')
    parser.add_argument("--subject", type=parse_named, action="append", required=True, metavar="NAME=IMG[,IMG...]",
                        help="a subject's photos (comma-separated, averaged) or subject file; repeat per subject")
    parser.add_argument("--subject-class", type=parse_named, action="append", default=[], metavar="NAME=WORD",
                        help="class word of a subject's photos, e.g. dog=dog (subject files carry theirs)")
    parser.add_argument("--region", type=parse_named, action="append", default=[], metavar="NAME=REGION",
                        help=f"confine a subject to {', '.join(NAMED_REGIONS)} or a mask image (white = inside)")
    parser.add_argument("--prompt-reps", type=int, default=20, help="copies of the prompt (the original's amplification)")
    add_sampling_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from blip_diffusion.pipelines.multi_subject import PromptSubject, generate_multi_subject

    if args.num_images < 1:
        raise InputError(f"--num-images must be at least 1, got {args.num_images}")
    references = _by_name(args.subject, "--subject")
    classes, regions = _by_name(args.subject_class, "--subject-class"), _by_name(args.region, "--region")
    for option, names in (("--subject-class", classes), ("--region", regions)):
        if unknown := sorted(set(names) - set(references)):
            raise InputError(f"{option} names unknown subjects: {', '.join(unknown)} (subjects: {', '.join(references)})")
    subjects = {name: PromptSubject(subject_input(value.split(",")), classes.get(name), regions.get(name))
                for name, value in references.items()}
    pipe = load_pipeline(args)
    configure_sampling(pipe, args)
    width, height = args.size or (pipe.default_size, pipe.default_size)
    images = generate_multi_subject(
        pipe, args.prompt, subjects, negative_prompt=args.negative_prompt, guidance_scale=args.guidance,
        num_inference_steps=args.steps, height=height, width=width, prompt_reps=args.prompt_reps,
        num_images=args.num_images,
        generator=[torch.Generator("cpu").manual_seed(args.seed + i) for i in range(args.num_images)],
    ).images
    settings = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "subjects": references,
                "subject_classes": classes, "regions": regions, "prompt_reps": args.prompt_reps,
                **sampling_settings(args, pipe, width, height)}
    save_images(images, Path(args.out), args.seed, settings)
    return 0


def _by_name(pairs: list[tuple[str, str]], option: str) -> dict[str, str]:
    named = {}
    for name, value in pairs:
        if name in named:
            raise InputError(f"{option}: {name} is given twice")
        named[name] = value
    return named
