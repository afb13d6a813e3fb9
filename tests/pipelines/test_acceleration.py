"""Compiled pipelines give the eager pipeline's images."""

from pathlib import Path

import numpy as np
import pytest
import torch

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.errors import InputError
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER

ARGS = {"num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}


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
    assert compiled.unet._compiled_call_impl is not None and compiled.vae.decoder._compiled_call_impl is not None
    assert np.abs(_images(compiled, dog_image) - eager).max() < 1e-5


def test_tuned_graph_with_compiled_encoders_matches_eager(dog_image):
    eager = _images(_fresh(), dog_image)
    compiled = _fresh().compile(backend="eager", encoders=True, tuned=True)
    assert compiled.qformer._compiled_call_impl is not None and compiled.text_encoder._compiled_call_impl is not None
    attention = [m for m in compiled.unet.modules() if hasattr(m, "fused_projections")]
    assert attention and all(m.fused_projections for m in attention)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in compiled.unet.parameters() if p.dim() == 4)
    assert np.abs(_images(compiled, dog_image) - eager).max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("tuned", [False, True])
def test_inductor_matches_eager(dog_image, tuned):
    eager = _images(_fresh(), dog_image)
    assert np.abs(_images(_fresh().compile(tuned=tuned, encoders=tuned), dog_image) - eager).max() < 1e-4


def test_compiled_pipeline_saves_the_official_layout(tmp_path, dog_image):
    pipe = _fresh().compile(backend="eager", encoders=True)
    pipe.save_pretrained(tmp_path / "model")
    reloaded = BlipDiffusionPipeline.from_pretrained(tmp_path / "model")
    reloaded.set_progress_bar_config(disable=True)
    assert np.array_equal(_images(reloaded, dog_image), _images(_fresh(), dog_image))
    with pytest.raises(InputError, match="before pipe.compile"):
        _fresh().compile(backend="eager", tuned=True).save_pretrained(tmp_path / "tuned")
    assert not (tmp_path / "tuned").exists()


def test_encoders_trace_as_one_graph_each(dog_image):
    """No graph breaks: nothing in the encoders branches on tensor values."""
    pipe = _fresh()
    pixels = pipe.image_processor.preprocess([dog_image])
    text = pipe.qformer_tokenizer(["dog", "sunflower"], return_tensors="pt", padding=True)
    with torch.no_grad():
        for masks in (text.attention_mask, None):
            qformer = torch._dynamo.explain(pipe.qformer)(pixels.repeat(2, 1, 1, 1), text.input_ids, masks)
            assert (qformer.graph_count, qformer.graph_break_count) == (1, 0)
        queries, config = pipe.qformer.num_query_tokens, pipe.text_encoder.config
        ids = pipe._tokenize(["a dog on the beach"], config.max_position_embeddings - queries)
        text_encoder = torch._dynamo.explain(pipe.text_encoder)(ids, torch.zeros(1, queries, config.hidden_size), 2)
        assert (text_encoder.graph_count, text_encoder.graph_break_count) == (1, 0)


TOY_MODEL = Path(__file__).resolve().parents[2] / "assets" / "models" / "toy" / "blip-diffusion"
TOY_SUBJECT = TOY_MODEL.parents[2] / "subjects" / "striped-ball"


def test_tuned_compile_keeps_a_loaded_lora_and_refuses_a_later_one():
    def generate(pipe, subject):
        return pipe("on the beach", subject, generator=torch.Generator().manual_seed(0), **ARGS).images

    pipe = BlipDiffusionPipeline.from_pretrained(TOY_MODEL)
    pipe.set_progress_bar_config(disable=True)
    subject = pipe.load_subject(TOY_SUBJECT)
    eager = generate(pipe, subject)
    pipe.compile(backend="eager", tuned=True)
    assert not any(getattr(m, "fused_projections", False) for m in pipe.unet.modules())
    assert np.abs(generate(pipe, subject) - eager).max() < 1e-4  # channels-last rounding; without the LoRA: 0.57
    fused = BlipDiffusionPipeline.from_pretrained(TOY_MODEL).compile(backend="eager", tuned=True)
    with pytest.raises(InputError, match="before pipe.compile"):
        fused.load_subject(TOY_SUBJECT)
