"""``blip-diffusion generate``: zero-shot subject-driven images, written as PNGs with their settings."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from PIL import Image, PngImagePlugin

from blip_diffusion.cli.common import add_background_argument, add_model_arguments, load_pipeline, parse_size
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.schedulers import SCHEDULERS, make_scheduler
from blip_diffusion.utils.atomic import atomic_path
from blip_diffusion.utils.images import load_image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--subject", nargs="+", required=True, metavar="IMG",
                        help="photos of the subject (averaged), or one subject file from encode-subject")
    parser.add_argument("--subject-class", default=None, help="class word of the subject, e.g. dog")
    add_background_argument(parser)
    parser.add_argument("--target-class", default=None, help="class word in the prompt (default: --subject-class)")
    parser.add_argument("--prompt", required=True, help='context, e.g. "on the beach"')
    parser.add_argument("--negative-prompt", default="", help="what to avoid")
    parser.add_argument("--num-images", type=int, default=1, help="images to generate")
    parser.add_argument("--seed", type=int, default=0, help="image i uses seed SEED + i")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--size", type=parse_size, default=None, metavar="WxH", help="image size (default 512x512)")
    parser.add_argument("--scheduler", default="pndm", choices=sorted(SCHEDULERS), help="sampler")
    parser.add_argument("--out", default="outputs", help="output folder")


def run(args: argparse.Namespace) -> int:
    if args.num_images < 1:
        raise InputError(f"--num-images must be at least 1, got {args.num_images}")
    for path in args.subject:  # fail on a bad photo before loading a large model
        if not path.endswith(".safetensors"):
            load_image(path)
    pipe = load_pipeline(args)
    pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
    width, height = args.size or (512, 512)
    subject = args.subject[0] if len(args.subject) == 1 and args.subject[0].endswith(".safetensors") else args.subject
    generators = [torch.Generator("cpu").manual_seed(args.seed + i) for i in range(args.num_images)]
    images = pipe(
        prompt=[args.prompt] * args.num_images, reference_image=subject,
        source_subject_category=args.subject_class, target_subject_category=args.target_class,
        guidance_scale=args.guidance, num_inference_steps=args.steps, height=height, width=width,
        negative_prompt=args.negative_prompt, generator=generators, reference_background=args.background,
    ).images
    settings = {
        "prompt": args.prompt, "negative_prompt": args.negative_prompt, "subject": args.subject,
        "subject_class": args.subject_class, "target_class": args.target_class, "model": str(pipe.model_name),
        "steps": args.steps, "guidance": args.guidance, "size": f"{width}x{height}", "scheduler": args.scheduler,
        "dtype": args.dtype,
    }
    out = Path(args.out)
    paths = [save_png(image, out / f"image_{args.seed + i:06d}.png", {**settings, "seed": args.seed + i})
             for i, image in enumerate(images)]
    grid = save_png(make_grid(images), out / f"grid_{args.seed:06d}.png", {**settings, "seeds": [
        args.seed + i for i in range(len(images))]})
    for path in paths:
        print(path)
    print(f"grid: {grid}")
    return 0


def save_png(image: Image.Image, path: Path, settings: dict) -> Path:
    """Write ``image`` with its settings as PNG text chunks, atomically."""
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", json.dumps(settings, sort_keys=True))
    for key in ("prompt", "seed", "model"):
        if key in settings:
            info.add_text(key, str(settings[key]))
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", pnginfo=info)
    return path


def make_grid(images: list[Image.Image]) -> Image.Image:
    columns = min(len(images), 4)
    rows = -(-len(images) // columns)
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height), "white")
    for i, image in enumerate(images):
        grid.paste(image, ((i % columns) * width, (i // columns) * height))
    return grid
