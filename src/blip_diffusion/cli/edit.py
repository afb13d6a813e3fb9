"""``blip-diffusion edit``: put a subject into a generated or a real image (prompt-to-prompt, local blend)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from blip_diffusion.cli.common import (
    add_background_argument,
    add_model_arguments,
    load_pipeline,
    output_folder,
    parse_size,
)
from blip_diffusion.cli.generate import make_grid, subject_input
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.attention_control import AttentionEditConfig
from blip_diffusion.pipelines.editing import BlipDiffusionEditPipeline, EditOutput
from blip_diffusion.pipelines.schedulers import SCHEDULERS, make_scheduler
from blip_diffusion.utils.image_output import mask_image, save_png
from blip_diffusion.utils.images import load_image

DEFAULTS = AttentionEditConfig()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--subject", nargs="+", required=True, metavar="IMG",
                        help="photos of the subject (averaged), or one subject file from encode-subject")
    parser.add_argument("--subject-class", default=None, help="class word of the subject, e.g. dog")
    add_background_argument(parser)
    parser.add_argument("--target-class", default=None,
                        help="class word in the edited prompt (default: --subject-class)")
    parser.add_argument("--source-class", default=None,
                        help="class word of what the source image shows; the subject replaces it "
                             "(default: --subject-class)")
    parser.add_argument("--prompt", required=True, help='context of the source image, e.g. "on the beach"')
    parser.add_argument("--target-prompt", default=None,
                        help="context of the edit (default: --prompt); it must keep some of --prompt's words")
    parser.add_argument("--image", default=None,
                        help="a real image to edit (inverted with --prompt); default: a generated source")
    parser.add_argument("--null-text", action="store_true",
                        help="with --image: fit null-text embeddings for a faithful guided reconstruction")
    parser.add_argument("--null-text-steps", type=int, default=10,
                        help="optimiser steps per timestep of --null-text")
    parser.add_argument("--negative-prompt", default="", help="what to avoid")
    parser.add_argument("--seed", type=int, default=0, help="noise of the generated source image")
    parser.add_argument("--steps", type=int, default=50, help="denoising (and inversion) steps")
    parser.add_argument("--guidance", type=float, default=7.5, help="classifier-free guidance of the edit")
    parser.add_argument("--size", type=parse_size, default=None, metavar="WxH",
                        help="image size (default: the model's, 512x512 for the official one; with --image: its own, "
                             "or resized and cropped)")
    parser.add_argument("--scheduler", default="pndm", choices=sorted(SCHEDULERS),
                        help="sampler of generated sources (real images always use DDIM)")
    _add_attention_arguments(parser)
    parser.add_argument("--out", type=output_folder, default="outputs", help="output folder")


def _add_attention_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("attention control")
    group.add_argument("--cross-replace", type=float, default=DEFAULTS.cross_replace_fraction,
                       help="fraction of steps in which shared words take the source's cross-attention")
    group.add_argument("--self-replace", type=float, default=DEFAULTS.self_replace_fraction,
                       help="fraction of steps in which the edit takes the source's self-attention")
    group.add_argument("--self-replace-downsample", type=int, default=DEFAULTS.self_replace_downsample,
                       help="self-attention is replaced in layers this many times smaller than the latents")
    group.add_argument("--blend-threshold", type=float, default=DEFAULTS.blend_threshold,
                       help="local blend: the edit changes only where the class word's attention is higher")
    group.add_argument("--no-blend", action="store_true", help="no local blend: the edit may change anything")
    group.add_argument("--blend-downsample", type=int, default=DEFAULTS.blend_downsample,
                       help="the blend reads the attention maps this many times smaller than the latents")


def run(args: argparse.Namespace) -> int:
    if args.null_text and not args.image:
        raise InputError("--null-text needs --image: only a real image's reconstruction is fitted")
    subject = subject_input(args.subject)  # a bad photo fails before the model loads
    if args.image:
        load_image(args.image)
    attention = AttentionEditConfig(args.cross_replace, args.self_replace, args.self_replace_downsample,
                                    None if args.no_blend else args.blend_threshold, args.blend_downsample)
    attention.validate()
    pipe = load_pipeline(args, BlipDiffusionEditPipeline)
    if not args.image:
        pipe.scheduler = make_scheduler(args.scheduler, pipe.scheduler.config)
    width, height = args.size or (None, None)
    output = pipe.edit(
        prompt=args.prompt, reference_image=subject, source_subject_category=args.subject_class,
        target_subject_category=args.target_class, source_class=args.source_class,
        target_prompt=args.target_prompt, image=args.image, attention=attention,
        guidance_scale=args.guidance, num_inference_steps=args.steps, height=height, width=width,
        negative_prompt=args.negative_prompt, null_text=args.null_text, null_text_steps=args.null_text_steps,
        generator=torch.Generator("cpu").manual_seed(args.seed), reference_background=args.background,
    )
    if args.image:
        print(f"reconstruction: relative latent error {output.reconstruction_error():.4f}")
    settings = {key: value for key, value in vars(args).items() if key not in ("run", "size", "out")}
    settings["model"] = str(pipe.model_name)
    for path in _save(output, args, settings):
        print(path)
    return 0


def _save(output: EditOutput, args: argparse.Namespace, settings: dict) -> list[Path]:
    """Writes the source (or reconstruction), the edit, the blend mask and a grid of them."""
    out = Path(args.out)
    tag = Path(args.image).stem if args.image else f"{args.seed:06d}"
    source, edited = output.source_images[0], output.edited_images[0]
    settings = {**settings, "size": f"{edited.width}x{edited.height}"}
    images = {"reconstruction" if args.image else "source": source, "edit": edited}
    if output.mask is not None:
        images["mask"] = mask_image(output.mask, edited.size)
    paths = [save_png(image, out / f"{name}_{tag}.png", settings) for name, image in images.items()]
    paths.append(save_png(make_grid(list(images.values())), out / f"grid_{tag}.png", settings))
    return paths


