"""``blip-diffusion stylize``: the look of a style image on the structure (canny edges) of another image."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from blip_diffusion.cli.common import add_background_argument, add_model_arguments
from blip_diffusion.cli.generate import (
    add_control_arguments,
    add_sampling_arguments,
    configure_sampling,
    control_settings,
    load_control_pipeline,
    one_or_all,
    sampling_settings,
    save_images,
    subject_input,
)
from blip_diffusion.errors import InputError
from blip_diffusion.utils.image_output import save_png
from blip_diffusion.utils.images import load_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--style", nargs="+", required=True, metavar="IMG",
                        help="image(s) whose look to use (encoded as a subject), or one subject file")
    parser.add_argument("--style-class", default=None, help="what the style image shows, e.g. flower")
    add_background_argument(parser)
    parser.add_argument("--structure", required=True, metavar="IMG", help="image whose canny edges fix the layout")
    parser.add_argument("--target-class", default=None, help="what to draw, e.g. teapot (default: --style-class)")
    parser.add_argument("--prompt", required=True, help='context, e.g. "on a marble table"')
    add_sampling_arguments(parser)
    add_control_arguments(parser, control_image=False)


def run(args: argparse.Namespace) -> int:
    from blip_diffusion.pipelines.stylize import stylize

    if args.num_images < 1:
        raise InputError(f"--num-images must be at least 1, got {args.num_images}")
    structure = load_image(args.structure)  # fail on bad images before loading a large model
    style = subject_input(args.style)
    pipe = load_control_pipeline(args)
    configure_sampling(pipe, args)
    width, height = args.size or (None, None)
    result = stylize(
        pipe, style, args.style_class, structure, [args.prompt] * args.num_images, target_class=args.target_class,
        low_threshold=args.canny_low, high_threshold=args.canny_high, height=height, width=width,
        guidance_scale=args.guidance, num_inference_steps=args.steps, negative_prompt=args.negative_prompt,
        generator=[torch.Generator("cpu").manual_seed(args.seed + i) for i in range(args.num_images)],
        reference_background=args.background, controlnet_conditioning_scale=one_or_all(args.control_scale),
        control_guidance_start=one_or_all(args.control_start), control_guidance_end=one_or_all(args.control_end),
    )
    width, height = result.images[0].size
    settings = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "style": args.style,
                "style_class": args.style_class, "structure": args.structure, "target_class": args.target_class,
                **sampling_settings(args, pipe, width, height), **control_settings(args)}
    save_images(result.images, Path(args.out), args.seed, settings)
    print(f"edges: {save_png(result.edges, Path(args.out) / 'edges.png', settings)}")
    return 0
