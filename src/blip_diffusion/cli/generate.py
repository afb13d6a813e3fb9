"""``blip-diffusion generate``: zero-shot subject-driven images, written as PNGs with their settings."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from PIL import Image

from blip_diffusion.cli.common import (
    DTYPES,
    add_background_argument,
    add_feature_cache_argument,
    add_model_arguments,
    check_feature_cache,
    load_pipeline,
    output_folder,
    parse_size,
)
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.finetuned_subject import read_finetune_info
from blip_diffusion.pipelines.schedulers import SCHEDULERS, make_scheduler
from blip_diffusion.utils.image_output import save_png
from blip_diffusion.utils.images import load_image

if TYPE_CHECKING:
    from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline

CANNY = "canny:"  # --control-image canny:PHOTO


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--subject", nargs="+", required=True, metavar="IMG",
                        help="photos of the subject (averaged), one subject file from encode-subject, "
                             "or one fine-tuned subject folder from finetune")
    parser.add_argument("--subject-class", default=None, help="class word of the subject, e.g. dog")
    add_background_argument(parser)
    parser.add_argument("--target-class", default=None, help="class word in the prompt (default: --subject-class)")
    parser.add_argument("--prompt", required=True, help='context, e.g. "on the beach"')
    add_sampling_arguments(parser)
    add_control_arguments(parser)


def add_sampling_arguments(parser: argparse.ArgumentParser, num_images: bool = True) -> None:
    """Negative prompt, seed, steps, guidance, size, sampler and output folder (and --num-images)."""
    parser.add_argument("--negative-prompt", default="", help="what to avoid")
    if num_images:
        parser.add_argument("--num-images", type=int, default=1, help="images to generate")
    parser.add_argument("--seed", type=int, default=0, help="image i uses seed SEED + i")
    parser.add_argument("--steps", type=int, default=50, help="denoising steps")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance scale")
    parser.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                        help="image size (default: the model's, 512x512 for the official one; with a control image, its "
                             "aspect ratio at that long side)")
    parser.add_argument("--scheduler", default="pndm", choices=sorted(SCHEDULERS), help="sampler")
    add_feature_cache_argument(parser)
    parser.add_argument("--out", type=output_folder, default="outputs", help="output folder")


def configure_sampling(pipe: BlipDiffusionPipeline, args: argparse.Namespace) -> None:
    """The sampler and the feature cache of add_sampling_arguments."""
    pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
    if check_feature_cache(args.feature_cache):
        pipe.enable_feature_cache(args.feature_cache)


def run(args: argparse.Namespace) -> int:
    if args.num_images < 1:
        raise InputError(f"--num-images must be at least 1, got {args.num_images}")
    subject = subject_input(args.subject)
    control = load_control_images(args)
    pipe = load_control_pipeline(args) if control else load_pipeline(args)
    if isinstance(subject, Path):
        subject = pipe.load_subject(subject)
    configure_sampling(pipe, args)
    width, height = args.size or default_size(control, pipe)
    generators = [torch.Generator("cpu").manual_seed(args.seed + i) for i in range(args.num_images)]
    images = pipe(
        prompt=[args.prompt] * args.num_images, reference_image=subject,
        source_subject_category=args.subject_class, target_subject_category=args.target_class,
        guidance_scale=args.guidance, num_inference_steps=args.steps, height=height, width=width,
        negative_prompt=args.negative_prompt, generator=generators, reference_background=args.background,
        **(control_call_arguments(args, pipe, control) if control else {}),
    ).images
    settings = {
        "prompt": args.prompt, "negative_prompt": args.negative_prompt, "subject": args.subject,
        "subject_class": args.subject_class, "target_class": args.target_class,
        **sampling_settings(args, pipe, width, height), **(control_settings(args) if control else {}),
    }
    save_images(images, Path(args.out), args.seed, settings)
    return 0


def subject_input(paths: list[str]) -> str | Path | list[str]:
    """--subject values: one subject file as is, one fine-tuned subject folder (``blip-diffusion
    finetune``) as a Path, or photos, checked now (before a large model loads)."""
    if len(paths) == 1 and paths[0].endswith(".safetensors"):
        return paths[0]
    if len(paths) == 1 and Path(paths[0]).is_dir():
        read_finetune_info(paths[0])
        return Path(paths[0])
    for path in paths:
        if not path.endswith(".safetensors"):
            load_image(path)
    return paths


def sampling_settings(args: argparse.Namespace, pipe: object, width: int, height: int) -> dict:
    """The settings of add_sampling_arguments (and the model), for the PNG metadata."""
    return {"model": str(pipe.model_name), "steps": args.steps, "guidance": args.guidance,
            "size": f"{width}x{height}", "scheduler": args.scheduler, "dtype": args.dtype,
            **({"feature_cache": args.feature_cache} if args.feature_cache else {})}


def save_images(images: list[Image.Image], out: Path, seed: int, settings: dict) -> list[Path]:
    """``image_<seed + i>.png`` for each image plus ``grid_<seed>.png``; prints the paths."""
    paths = [save_png(image, out / f"image_{seed + i:06d}.png", {**settings, "seed": seed + i})
             for i, image in enumerate(images)]
    grid = save_png(make_grid(images), out / f"grid_{seed:06d}.png", {
        **settings, "seeds": [seed + i for i in range(len(images))]})
    for path in paths:
        print(path)
    print(f"grid: {grid}")
    return paths


# ---------------------------------------------------------------------- structure control (ControlNet)
def add_control_arguments(parser: argparse.ArgumentParser, control_image: bool = True) -> None:
    group = parser.add_argument_group("structure control (ControlNet)")
    if control_image:
        group.add_argument("--control-image", nargs="+", default=None, metavar="IMG",
                           help="one control map per ControlNet (edges, depth, HED, scribble, ...); canny:PHOTO "
                                "computes the canny edges of PHOTO; needs a model with a ControlNet or --controlnet")
    group.add_argument("--controlnet", nargs="+", default=None, metavar="FOLDER",
                       help="diffusers ControlNet folders or Hub ids, used instead of the model's own ControlNet "
                            "(several: their residuals add up)")
    group.add_argument("--control-scale", type=float, nargs="+", default=[1.0], metavar="S",
                       help="conditioning scale: one, or one per ControlNet (default 1.0)")
    group.add_argument("--control-start", type=float, nargs="+", default=[0.0], metavar="F",
                       help="fraction of the steps at which the ControlNet starts acting (default 0.0)")
    group.add_argument("--control-end", type=float, nargs="+", default=[1.0], metavar="F",
                       help="fraction of the steps at which it stops (default 1.0)")
    group.add_argument("--canny-low", type=float, default=100, help="canny's lower hysteresis threshold (default 100)")
    group.add_argument("--canny-high", type=float, default=200, help="canny's upper hysteresis threshold (default 200)")


def load_control_images(args: argparse.Namespace) -> list[Image.Image]:
    """The --control-image maps (canny:PHOTO computed); [] without --control-image."""
    from blip_diffusion.pipelines.control_images import canny_edges

    if args.controlnet and not args.control_image:
        raise InputError("--controlnet needs --control-image (one control map per ControlNet)")
    return [canny_edges(load_image(spec[len(CANNY):]), args.canny_low, args.canny_high) if spec.startswith(CANNY)
            else load_image(spec) for spec in args.control_image or []]



def load_control_pipeline(args: argparse.Namespace):
    """--model (the bundled model by default) with its own ControlNet, or with the --controlnet ones."""
    from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline, load_controlnet

    if not args.controlnet:
        return load_pipeline(args, BlipDiffusionControlNetPipeline)
    base = load_pipeline(args)
    nets = [load_controlnet(name, DTYPES[args.dtype]) for name in args.controlnet]
    return BlipDiffusionControlNetPipeline.from_base(base, nets).to(base.device)


def default_size(control: list[Image.Image], pipe) -> tuple[int, int]:
    """The model's own size; with a control map, its aspect ratio at that long side."""
    from blip_diffusion.pipelines.control_images import fit_size

    side = pipe.default_size
    return fit_size(control[0].size, side, pipe.vae_scale_factor) if control else (side, side)



def control_call_arguments(args: argparse.Namespace, pipe: object, control: list[Image.Image]) -> dict:
    """The pipeline's ControlNet arguments: one control map per ControlNet, scales and step fractions."""
    count = len(pipe.controlnets)
    if len(control) != count:
        raise InputError(f"--control-image: the pipeline has {count} ControlNet(s) but {len(control)} control "
                         f"image(s) were given; give one per ControlNet")
    return {
        "control_image": control if count > 1 else control[0],
        "controlnet_conditioning_scale": one_or_all(args.control_scale),
        "control_guidance_start": one_or_all(args.control_start),
        "control_guidance_end": one_or_all(args.control_end),
    }


def one_or_all(values: list[float]) -> float | list[float]:
    return values[0] if len(values) == 1 else values


def control_settings(args: argparse.Namespace) -> dict:
    return {"control_image": getattr(args, "control_image", None), "controlnet": args.controlnet,
            "control_scale": args.control_scale, "control_start": args.control_start, "control_end": args.control_end,
            "canny": [args.canny_low, args.canny_high]}


def make_grid(images: list[Image.Image]) -> Image.Image:
    columns = min(len(images), 4)
    rows = -(-len(images) // columns)
    width, height = images[0].size
    grid = Image.new("RGB", (columns * width, rows * height), "white")
    for i, image in enumerate(images):
        grid.paste(image, ((i % columns) * width, (i // columns) * height))
    return grid
