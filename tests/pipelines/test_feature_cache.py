"""Feature caching: its full pass is the UNet's forward, interval 1 is exact, longer intervals skip the deep levels."""

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.feature_cache import FeatureCache
from blip_diffusion.training.pooled_text import with_pooled_text_embedding
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER

ARGS = {"num_inference_steps": 4, "height": 64, "width": 64, "output_type": "np"}


def _fresh():
    pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _images(pipe, dog_image):
    return pipe("on the beach", dog_image, "dog", generator=torch.Generator().manual_seed(0), **ARGS).images


def _unet_inputs(unet, batch=2, size=8):
    generator = torch.Generator().manual_seed(0)
    sample = torch.randn(batch, unet.config.in_channels, size, size, generator=generator)
    states = torch.randn(batch, 5, unet.config.cross_attention_dim, generator=generator)
    return sample, torch.tensor(500), states


def test_full_pass_is_the_unet_forward_and_the_top_pass_reuses_its_deep_features(pipe):
    cache = FeatureCache(pipe.unet, 2)
    sample, t, states = _unet_inputs(pipe.unet)
    with torch.no_grad():
        expected = pipe.unet(sample, t, encoder_hidden_states=states).sample
        noise, deep = cache.full_pass(sample, t, states)
        # on the same input, the top level on the kept deep features gives the full output again
        again = cache.top_pass(sample, t, states, deep)
    assert torch.equal(noise, expected)
    assert torch.equal(again, expected)


def test_full_and_top_passes_add_the_pooled_text_embedding(pipe):
    unet = with_pooled_text_embedding(pipe.unet)
    with torch.no_grad():
        unet.add_embedding.norm2.weight.fill_(1.0)  # as trained: the pooled prompt changes the prediction
    cache = FeatureCache(unet, 2)
    sample, t, states = _unet_inputs(unet)
    with torch.no_grad():
        expected = unet(sample, t, encoder_hidden_states=states).sample
        noise, deep = cache.full_pass(sample, t, states)
        again = cache.top_pass(sample, t, states, deep)
    assert not torch.equal(expected, pipe.unet(sample, t, encoder_hidden_states=states).sample)
    assert torch.equal(noise, expected)
    assert torch.equal(again, expected)


def test_full_pass_matches_the_unet_with_controlnet_residuals_and_an_odd_latent_size(pipe):
    cache = FeatureCache(pipe.unet, 2)
    sample, t, states = _unet_inputs(pipe.unet, size=6)  # not a multiple of the upsampling factor
    with torch.no_grad():
        shapes = [s.shape for s in _down_samples(pipe.unet, sample, t, states)]
        generator = torch.Generator().manual_seed(1)
        down = tuple(torch.randn(shape, generator=generator) for shape in shapes[:-1])
        mid = torch.randn(shapes[-1], generator=generator)
        expected = pipe.unet(sample, t, encoder_hidden_states=states, down_block_additional_residuals=down,
                             mid_block_additional_residual=mid).sample
        noise, deep = cache.full_pass(sample, t, states, down, mid)
        again = cache.top_pass(sample, t, states, deep, down)
    assert torch.equal(noise, expected)
    assert torch.equal(again, expected)


def _down_samples(unet, sample, t, states):
    """The shapes ControlNet residuals take: every skip connection, then the mid block's output."""
    emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=t), None)
    hidden = unet.conv_in(sample)
    skips = [hidden]
    for block in unet.down_blocks:
        kwargs = {"encoder_hidden_states": states} if getattr(block, "has_cross_attention", False) else {}
        hidden, res = block(hidden_states=hidden, temb=emb, **kwargs)
        skips += res
    return [*skips, hidden]


def test_interval_one_gives_the_exact_images(dog_image):
    exact = _images(_fresh(), dog_image)
    assert np.array_equal(_images(_fresh().enable_feature_cache(1), dog_image), exact)


def test_longer_intervals_run_the_deep_levels_only_on_full_steps(dog_image):
    pipe = _fresh().enable_feature_cache(2)
    deep_calls = []
    hook = pipe.unet.mid_block.register_forward_hook(lambda *_: deep_calls.append(1))
    try:
        cached = _images(pipe, dog_image)
        cached_again = _images(pipe, dog_image)  # each call starts with a full step: no state leaks between calls
    finally:
        hook.remove()
    calls = len(pipe.scheduler.timesteps)  # PNDM calls the UNet once more than its step count
    assert len(deep_calls) == 2 * len(range(0, calls, 2))  # steps 0, 2, 4..., twice
    assert np.array_equal(cached, cached_again)
    exact = _images(_fresh(), dog_image)
    assert 0 < np.abs(cached - exact).max() < 0.5
    pipe.disable_feature_cache()
    assert np.array_equal(_images(pipe, dog_image), exact)


def test_compiled_cache_matches_the_eager_cache(dog_image):
    eager = _images(_fresh().enable_feature_cache(2), dog_image)
    enabled_first = _fresh().enable_feature_cache(2).compile(backend="eager")
    compiled_first = _fresh().compile(backend="eager").enable_feature_cache(2)
    for pipe in (enabled_first, compiled_first):
        assert pipe.feature_cache._full is not pipe.feature_cache.full_pass  # a compiled wrapper
        assert np.abs(_images(pipe, dog_image) - eager).max() < 1e-5


@pytest.mark.parametrize("interval", [0, -1, 1.5, True])
def test_bad_intervals_are_refused(pipe, interval):
    with pytest.raises(InputError, match="feature cache interval must be an integer of at least 1"):
        FeatureCache(pipe.unet, interval)


def test_unsupported_unets_and_offloaded_weights_are_refused(pipe):
    unet = UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                layers_per_block=1, class_embed_type="timestep", norm_num_groups=32)
    with pytest.raises(InputError, match="supports SD1.5-style UNets; this one sets class_embed_type"):
        FeatureCache(unet, 2)
    sample, t, states = _unet_inputs(pipe.unet)
    with pytest.raises(InputError, match="does not combine with model CPU offload"):
        FeatureCache(pipe.unet, 2)(sample.to("meta"), t, states.to("meta"))
