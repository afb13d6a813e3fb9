"""The ``blip-diffusion`` command line.

Each subcommand lives in its own module of this package with two functions:
``add_arguments(parser)`` declares its flags and ``run(args) -> int`` does the work.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from blip_diffusion.errors import InputError

# subcommand name -> (module under blip_diffusion.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "generate": ("generate", "generate images of a subject in new contexts (zero-shot)"),
    "encode-subject": ("encode_subject", "encode a subject's photos once into a reusable subject file"),
    "edit": ("edit", "put a subject into a generated or a real image (prompt-to-prompt, local blend)"),
    "stylize": ("stylize", "the look of a style image on the structure (canny edges) of another image"),
    "interpolate": ("interpolate", "frames between two subjects' embeddings: PNGs, a grid, a GIF (and an MP4)"),
    "multi-subject": ("multi_subject", 'several subjects in one prompt: "a [dog] dog and a [cat] cat"'),
    "train": ("train", "train a stage: base (toy CLIP, VAE, UNet), stage1 (Q-Former), stage2 (subject representation)"),
    "finetune": ("finetune", "fine-tune a subject in a few steps (LoRA by default) into a subject folder"),
    "toyworld": ("toyworld", "render the toy world: example subjects and scenes, data set export"),
    "toybench": ("toybench", "measure a model on ToyBench, the toy world's DreamBench"),
    "eval": ("eval", "evaluate a model on a benchmark (DreamBench: DINO, CLIP-I, CLIP-T)"),
    "serve": ("serve", "start the web UI and HTTP API (Gradio), on localhost by default"),
    "convert-lavis": ("convert_lavis", "convert a LAVIS BLIP-Diffusion checkpoint folder to the official layout"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="blip-diffusion",
        description="BLIP-Diffusion: subject-driven text-to-image generation, editing and training.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: log what each step does and how long it took; -vv: also debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(f"blip_diffusion.cli.{module_name}")
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(command_parser)
        command_parser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
