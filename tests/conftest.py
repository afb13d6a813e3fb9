"""Shared fixtures: the small random BLIP-Diffusion models and parity cases under tests/fixtures."""

from __future__ import annotations

import contextlib
import io
import json
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
CASES = FIXTURES / "cases"
ASSETS = Path(__file__).parent.parent / "assets"
FIXTURE_MODEL = MODELS / "blipdiffusion-small"
QFORMER_TOKENIZER = MODELS / "qformer_tokenizer"

torch.set_num_threads(2)


def run_script(script: Path, *args: str) -> str:
    """``python SCRIPT ARGS`` in this process (its imports are already paid for, about 10 s a process on
    2 cores); the script's standard output. A non-zero exit fails the test with the script's message."""
    argv, path = sys.argv, sys.path[:]
    sys.argv, sys.path = [str(script), *args], [str(script.parent), *sys.path]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit_info:
        if exit_info.code not in (None, 0):
            pytest.fail(f"{script.name} {' '.join(args)} exited: {exit_info.code}")
    finally:
        sys.argv, sys.path = argv, path
    return out.getvalue()


@pytest.fixture(scope="session")
def pipe():
    """The fixture model, loaded once; tests must not change its state."""
    from blip_diffusion import BlipDiffusionPipeline

    pipeline = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


@pytest.fixture(scope="session")
def dog_image() -> Image.Image:
    return Image.open(ASSETS / "dreambench" / "dog" / "00.jpg")


def load_case(name: str) -> tuple[dict, Path]:
    """args.json of a parity case with file-valued entries resolved, and the case folder."""
    folder = CASES / name
    args = json.loads((folder / "args.json").read_text())
    args["reference_image"] = Image.open(folder / args["reference_image"])
    args["latents"] = torch.from_numpy(np.load(folder / args["latents"]))
    if "condtioning_image" in args:
        args["control_image"] = Image.open(folder / args.pop("condtioning_image"))
    args["negative_prompt"] = args.pop("neg_prompt")
    return args, folder
