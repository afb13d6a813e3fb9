"""Compiled pipelines give the eager pipeline's images."""

import numpy as np
import pytest
import torch

from blip_diffusion import BlipDiffusionPipeline
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER

ARGS = dict(num_inference_steps=2, height=64, width=64, output_type="np")


def _images(pipe, dog_image):
    return pipe("on the beach", dog_image, "dog", generator=torch.Generator().manual_seed(0), **ARGS).images


def _fresh():
    pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.mark.parametrize("backend", ["eager"])
def test_compiled_graph_matches_eager(dog_image, backend):
    eager = _images(_fresh(), dog_image)
    compiled = _fresh().compile(backend=backend)
    assert isinstance(compiled.unet, torch._dynamo.eval_frame.OptimizedModule)
    assert np.abs(_images(compiled, dog_image) - eager).max() < 1e-5


@pytest.mark.slow
def test_inductor_matches_eager(dog_image):
    eager = _images(_fresh(), dog_image)
    assert np.abs(_images(_fresh().compile(), dog_image) - eager).max() < 1e-4
