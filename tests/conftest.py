"""Shared fixtures: the small random BLIP-Diffusion models and parity cases under tests/fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
MODELS = FIXTURES / "models"
CASES = FIXTURES / "cases"
ASSETS = Path(__file__).parent.parent / "assets"

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def fixture_model_dir() -> Path:
    return MODELS / "blipdiffusion-small"


@pytest.fixture(scope="session")
def qformer_tokenizer_dir() -> Path:
    return MODELS / "qformer_tokenizer"
