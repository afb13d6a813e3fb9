"""Shared fixtures: the small random BLIP-Diffusion models and parity cases under tests/fixtures."""

from __future__ import annotations

import json
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
