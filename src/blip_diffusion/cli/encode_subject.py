"""``blip-diffusion encode-subject``: encode a subject once into a small reusable file."""

from __future__ import annotations

import argparse

from blip_diffusion.cli.common import add_background_argument, add_model_arguments, load_pipeline, output_file
from blip_diffusion.errors import InputError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--subject", nargs="+", required=True, metavar="IMG", help="photos of the subject")
    parser.add_argument("--subject-class", required=True, help="class word of the subject, e.g. dog")
    add_background_argument(parser)
    parser.add_argument("--weights", nargs="+", type=float, default=None, help="one weight per photo (default: equal)")
    parser.add_argument("--out", type=output_file, required=True, help="output subject file (.safetensors)")


def run(args: argparse.Namespace) -> int:
    if args.out.suffix != ".safetensors":
        raise InputError(f"--out must name a .safetensors file, got {str(args.out)!r}")
    pipe = load_pipeline(args)
    subject = pipe.encode_subject(args.subject, args.subject_class, weights=args.weights, background=args.background)
    path = subject.save(args.out)
    print(f"wrote subject '{subject.category}' ({len(args.subject)} photos) to {path}")
    return 0
