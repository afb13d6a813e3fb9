"""``blip-diffusion interpolate``: frames from one subject to another, as PNGs, a grid, a GIF (and an MP4)."""

from __future__ import annotations

import argparse
from pathlib import Path

from blip_diffusion.cli.common import add_model_arguments, load_pipeline
from blip_diffusion.cli.generate import (
    add_sampling_arguments,
    configure_sampling,
    make_grid,
    sampling_settings,
    subject_input,
)
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.interpolation import INTERPOLATIONS
from blip_diffusion.utils.image_output import save_png


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    for side in ("a", "b"):
        parser.add_argument(f"--subject-{side}", nargs="+", required=True, metavar="IMG",
                            help=f"photos of subject {side.upper()} (averaged), or one subject file")
        parser.add_argument(f"--class-{side}", default=None, help=f"class word of subject {side.upper()}'s photos")
    parser.add_argument("--target-class", default=None,
                        help="class word in the prompt (default: the subjects' class; required when they differ)")
    parser.add_argument("--prompt", required=True, help='context, e.g. "on the beach"')
    parser.add_argument("--frames", type=int, default=8, help="frames along the path, both subjects included")
    parser.add_argument("--method", default="spherical", choices=sorted(INTERPOLATIONS),
                        help="path between the embeddings: spherical (per token vector) or linear")
    parser.add_argument("--frame-ms", type=int, default=250, help="duration of one GIF frame in milliseconds")
    parser.add_argument("--bounce", action="store_true", help="the GIF plays forward then backward")
    parser.add_argument("--mp4", action="store_true", help="also write an MP4 (needs imageio[ffmpeg]; skipped without)")
    add_sampling_arguments(parser, num_images=False)


def run(args: argparse.Namespace) -> int:
    from blip_diffusion.pipelines.interpolation import interpolate_subjects, mp4_available, save_gif, save_mp4

    if args.frames < 2:
        raise InputError(f"--frames must be at least 2 (the two subjects), got {args.frames}")
    if args.frame_ms < 1:
        raise InputError(f"--frame-ms must be at least 1, got {args.frame_ms}")
    subjects = [subject_input(paths) for paths in (args.subject_a, args.subject_b)]
    pipe = load_pipeline(args)
    configure_sampling(pipe, args)
    width, height = args.size or (pipe.default_size, pipe.default_size)
    result = interpolate_subjects(
        pipe, args.prompt, *subjects, category_a=args.class_a, category_b=args.class_b,
        target_category=args.target_class, num_frames=args.frames, method=args.method, seed=args.seed,
        guidance_scale=args.guidance, num_inference_steps=args.steps, height=height, width=width,
        negative_prompt=args.negative_prompt,
    )
    settings = {"prompt": args.prompt, "negative_prompt": args.negative_prompt, "subject_a": args.subject_a,
                "subject_b": args.subject_b, "class_a": args.class_a, "class_b": args.class_b,
                "target_class": args.target_class, "method": args.method, "seed": args.seed,
                **sampling_settings(args, pipe, width, height)}
    out = Path(args.out)
    for i, (frame, weight) in enumerate(zip(result.frames, result.weights)):
        print(save_png(frame, out / f"frame_{i:03d}.png", {**settings, "weight_b": weight}))
    print(f"grid: {save_png(make_grid(result.frames), out / 'grid.png', settings)}")
    print(f"gif: {save_gif(result.frames, out / 'interpolation.gif', args.frame_ms, args.bounce)}")
    if args.mp4 and mp4_available():
        print(f"mp4: {save_mp4(result.frames, out / 'interpolation.mp4', 1000 / args.frame_ms)}")
    elif args.mp4:
        print("mp4 skipped: imageio with ffmpeg is not installed (pip install imageio[ffmpeg])")
    return 0

