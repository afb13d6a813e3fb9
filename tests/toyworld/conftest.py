"""Shared pieces of the toy-world tests: the committed oracle and fake image generators."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from blip_diffusion.evaluation.worklist import GenerationRequest
from blip_diffusion.toyworld.bench import ToyBench
from blip_diffusion.toyworld.benchset import truth_photo
from blip_diffusion.toyworld.oracle import Oracle, load_oracle

ORACLE = Path(__file__).resolve().parents[2] / "assets" / "toyworld" / "oracle.safetensors"


@pytest.fixture(scope="session")
def oracle() -> Oracle:
    return load_oracle(ORACLE)


class WrongSubject:
    """Answers each request with the ground truth of the next ToyBench subject (another class)."""

    def __init__(self, bench: ToyBench):
        self.bench = bench

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        names = [subject.name for subject in self.bench.subjects]
        pictures = []
        for r in requests:
            other = self.bench.member(names[(names.index(r.subject) + 1) % len(names)])
            pictures.append(truth_photo(other, r.prompt.index, r.sample).pil())
        return pictures


class CopyReference:
    """Answers each request with the subject's first reference photo, as a model that copies would."""

    def __init__(self, bench: ToyBench):
        self.photos = bench.photos

    def __call__(self, requests: Sequence[GenerationRequest]) -> list[Image.Image]:
        return [Image.open(self.photos[r.subject][0]).convert("RGB") for r in requests]
