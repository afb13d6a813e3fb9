"""Shared pieces of the evaluation tests: the repo's DreamBench sample, the tiny metric models, fakes."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from blip_diffusion.evaluation.encoders import ClipEncoder, DinoEncoder
from blip_diffusion.evaluation.worklist import GenerationRequest

ROOT = Path(__file__).resolve().parents[2]
DREAMBENCH = ROOT / "assets" / "dreambench"  # dog, cat, teapot and prompts_and_classes.txt
EVAL_MODELS = ROOT / "tests" / "fixtures" / "eval_models"
DINO_MODEL = EVAL_MODELS / "dino-vits16-tiny"
CLIP_MODEL = EVAL_MODELS / "clip-vit-base-patch32-tiny"
BLIP_MODEL = ROOT / "tests" / "fixtures" / "models" / "blipdiffusion-small"
QFORMER_TOKENIZER = ROOT / "tests" / "fixtures" / "models" / "qformer_tokenizer"


class FakeGenerator:
    """An ImageGenerator that paints each request a colour derived from its seed, and records its calls."""

    def __init__(self, size: int = 32, fail_after: int | None = None):
        self.size = size
        self.fail_after = fail_after
        self.calls: list[list[GenerationRequest]] = []

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise RuntimeError("generator failed")
        self.calls.append(list(requests))
        return [
            Image.new("RGB", (self.size, self.size), tuple(r.seed.to_bytes(8, "little")[:3]))
            for r in requests
        ]

    @property
    def generated(self) -> list[GenerationRequest]:
        return [request for call in self.calls for request in call]


class PhotoGenerator:
    """An ImageGenerator that returns a given photo of the subject for every request."""

    def __init__(self, photos: dict[str, Path]):
        self.photos = photos

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        return [Image.open(self.photos[r.subject]).convert("RGB") for r in requests]


@pytest.fixture(scope="session")
def dino() -> DinoEncoder:
    return DinoEncoder.from_pretrained(str(DINO_MODEL))


@pytest.fixture(scope="session")
def clip() -> ClipEncoder:
    return ClipEncoder.from_pretrained(str(CLIP_MODEL))
