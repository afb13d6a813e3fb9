"""The ControlNet fixture model, loaded once, and small sampling settings for the application tests."""

from __future__ import annotations

import pytest

from tests.conftest import MODELS, QFORMER_TOKENIZER

CONTROL_MODEL = MODELS / "blipdiffusion-controlnet-small"


@pytest.fixture(scope="session")
def control_pipe():
    """The ControlNet fixture model (same weights as the base fixture plus controlnet/); tests must not change it."""
    from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline

    pipeline = BlipDiffusionControlNetPipeline.from_pretrained(CONTROL_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline
