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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser, with the flags of ``command`` (every subcommand's when None).

    A subcommand's module imports torch and the model libraries (seconds): ``main`` builds only the
    one named on the command line, so ``blip-diffusion --help`` and a mistyped command answer at once.
    """
    parser = argparse.ArgumentParser(
        prog="blip-diffusion",
        description="BLIP-Diffusion: subject-driven text-to-image generation, editing and training.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="-v: log what each step does and how long it took; -vv: also debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if command in (None, name):
            module = importlib.import_module(f"blip_diffusion.cli.{module_name}")
            module.add_arguments(command_parser)
            command_parser.set_defaults(run=module.run)
    return parser


def named_command(argv: list[str]) -> str:
    """The subcommand in ``argv`` (the first word that is not a flag; the main parser's flags take no
    values), or "" when there is none."""
    return next((word for word in argv if not word.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(named_command(argv)).parse_args(argv)
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except InputError as error:  # one line, also where it quotes a library's multi-line message
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
