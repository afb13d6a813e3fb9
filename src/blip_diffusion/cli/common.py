"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from blip_diffusion.errors import InputError

REPO_ROOT = Path(__file__).resolve().parents[3]
# The default model: the toy BLIP-Diffusion this project trains (`make toy-model`), with its own
# tokenizers and its canny ControlNet.
BUNDLED_MODEL = REPO_ROOT / "assets" / "models" / "toy" / "blip-diffusion"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="model folder or Hub id (e.g. Salesforce/blipdiffusion); default: the bundled model")
    parser.add_argument("--qformer-tokenizer", default=None,
                        help="folder of the Q-Former's BERT tokenizer (default: the model's own, else bert-base-uncased)")
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    parser.add_argument("--dtype", default="float32", choices=sorted(DTYPES), help="weight precision")


def load_pipeline(args: argparse.Namespace, pipeline_class=None):
    """The pipeline named by --model (or the bundled one), on --device in --dtype."""
    from blip_diffusion import BlipDiffusionPipeline

    pipeline_class = pipeline_class or BlipDiffusionPipeline
    model, tokenizer = args.model, args.qformer_tokenizer
    if model is None:
        if not BUNDLED_MODEL.is_dir():
            raise InputError("no bundled model in this installation: pass --model FOLDER_OR_HUB_ID")
        print(f"using the bundled toy model {BUNDLED_MODEL} (trained on the toy world: 64x64 pictures)")
        model = BUNDLED_MODEL
    device = resolve_device(args.device)
    pipe = pipeline_class.from_pretrained(model, qformer_tokenizer=tokenizer, torch_dtype=DTYPES[args.dtype])
    return pipe.to(device)


def add_feature_cache_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--feature-cache", type=int, default=0, metavar="N",
                        help="approximate mode: the whole UNet every N steps, its top level in between (0: off)")


def check_feature_cache(interval: int) -> int:
    """--feature-cache's value, refused when negative."""
    if interval < 0:
        raise InputError(f"--feature-cache must be 0 (off) or a step interval of at least 1, got {interval}")
    return interval


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise InputError(f"--device: unknown device {name!r} (expected cpu, cuda, cuda:N or mps)") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {name}: CUDA is not available on this machine")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"--device {name}: MPS is not available on this machine")
    return device


def output_folder(text: str) -> Path:
    """``--out`` of a command that writes a folder (argparse type): refused before any work when a file
    stands in its place."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file; expected a folder (new or existing)")
    return path


def output_file(text: str) -> Path:
    """``--out`` of a command that writes one file (argparse type): refused when a folder stands in its place."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected a file name")
    return path


def parse_size(text: str) -> tuple[int, int]:
    """'512x384' -> (width 512, height 384)."""
    try:
        width, height = (int(part) for part in text.lower().split("x"))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"size must look like 512x512 (WIDTHxHEIGHT), got {text!r}") from error
    return width, height


def parse_color(text: str) -> tuple[int, int, int]:
    """'255,255,255' -> (255, 255, 255)."""
    try:
        color = tuple(int(part) for part in text.split(","))
    except ValueError:
        color = ()
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise argparse.ArgumentTypeError(f"colour must look like 255,255,255 (R,G,B in 0..255), got {text!r}")
    return color


def add_background_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--background", type=parse_color, default=None, metavar="R,G,B",
                        help="composite transparent photos onto this colour (default: drop alpha, as the original)")
