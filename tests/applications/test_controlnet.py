"""The ControlNet pipeline on the fixture model: loading and saving, control inputs, scales, step windows, errors."""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
from diffusers import ControlNetModel, MultiControlNetModel
from PIL import Image, ImageDraw

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline
from tests.applications.conftest import CONTROL_MODEL
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER

FAST = {"num_inference_steps": 1, "height": 32, "width": 32, "output_type": "latent"}  # one UNet call, no VAE decode


def _edges(size=(32, 32), box=(6, 8, 24, 26)) -> Image.Image:
    image = Image.new("RGB", size, "black")
    ImageDraw.Draw(image).rectangle(box, outline="white")
    return image


@pytest.fixture(scope="module")
def embeds(control_pipe, dog_image):
    return control_pipe.encode_subject(dog_image, "dog").embeds


def _generate(pipe, embeds, control, seed=0, **kwargs):
    return pipe("on a table", embeds, control, target_subject_category="dog",
                generator=torch.Generator().manual_seed(seed), **FAST | kwargs).images


@contextlib.contextmanager
def _counting_calls(net):
    calls = []
    handle = net.register_forward_hook(lambda *_: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def test_loads_official_layout_and_saves_it_back(control_pipe, embeds, tmp_path):
    assert isinstance(control_pipe.controlnet, ControlNetModel)
    control_pipe.save_pretrained(tmp_path / "saved")
    index = json.loads((tmp_path / "saved" / "model_index.json").read_text())
    assert index["_class_name"] == "BlipDiffusionControlNetPipeline"
    assert index["controlnet"] == ["diffusers", "ControlNetModel"]
    assert (tmp_path / "saved" / "controlnet" / "diffusion_pytorch_model.safetensors").is_file()
    reloaded = BlipDiffusionControlNetPipeline.from_pretrained(tmp_path / "saved")
    reloaded.set_progress_bar_config(disable=True)
    ours, theirs = control_pipe.controlnet.state_dict(), reloaded.controlnet.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert torch.equal(_generate(control_pipe, embeds, _edges()), _generate(reloaded, embeds, _edges()))


def test_base_model_folder_without_controlnet_is_a_clear_error():
    with pytest.raises(InputError, match="has no ControlNet .* it is a base model"):
        BlipDiffusionControlNetPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)


def test_scale_zero_equals_the_base_pipeline_and_the_map_matters(control_pipe, pipe, embeds):
    base = pipe("on a table", embeds, target_subject_category="dog", generator=torch.Generator().manual_seed(0),
                **FAST).images
    unscaled = _generate(control_pipe, embeds, _edges(), controlnet_conditioning_scale=0.0)
    assert torch.equal(unscaled, base)  # zero residuals leave every UNet output unchanged
    boxed = _generate(control_pipe, embeds, _edges())
    other = _generate(control_pipe, embeds, _edges(box=(2, 2, 12, 30)))
    assert (boxed - base).abs().max() > 1e-3 and (boxed - other).abs().max() > 1e-3


def test_guidance_window_selects_the_steps(control_pipe, embeds):
    for window, expected in (({}, 3), ({"control_guidance_end": 0.5}, 1), ({"control_guidance_start": 0.5}, 1)):
        with _counting_calls(control_pipe.controlnet) as calls:  # 2 PNDM steps: 3 UNet evaluations
            _generate(control_pipe, embeds, _edges(), guidance_scale=1.0, num_inference_steps=2, **window)
        assert len(calls) == expected, window  # steps i with start <= i / 3 and (i + 1) / 3 <= end
    with pytest.raises(InputError, match="0 <= start < end <= 1"):
        _generate(control_pipe, embeds, _edges(), control_guidance_start=0.6, control_guidance_end=0.4)


def test_control_images_follow_the_guidance_batch(control_pipe):
    images = control_pipe.prepare_control_images(_edges(), 32, 32, batch=2, per_prompt=3, guided=True)
    assert len(images) == 1 and images[0].shape == (12, 3, 32, 32)
    assert torch.equal(images[0][:6], images[0][6:])  # the unconditional half sees the same map
    per_prompt = control_pipe.prepare_control_images([_edges(), _edges(box=(1, 1, 9, 9))], 32, 32, 2, 2, False)
    assert per_prompt[0].shape == (4, 3, 32, 32)
    assert torch.equal(per_prompt[0][0], per_prompt[0][1]) and not torch.equal(per_prompt[0][1], per_prompt[0][2])
    with pytest.raises(InputError, match="one control image for all prompts or one per prompt"):
        control_pipe.prepare_control_images([_edges()] * 3, 32, 32, 2, 1, False)


def test_batched_prompts_equal_single_calls(control_pipe, embeds):
    batch = control_pipe(["on a table", "in the snow"], embeds, [_edges(), _edges(box=(1, 1, 20, 12))],
                         target_subject_category="dog", generator=[torch.Generator().manual_seed(s) for s in (0, 1)],
                         **FAST | {"num_inference_steps": 2}).images
    second = control_pipe("in the snow", embeds, _edges(box=(1, 1, 20, 12)), target_subject_category="dog",
                          generator=torch.Generator().manual_seed(1), **FAST | {"num_inference_steps": 2}).images
    assert (batch[1] - second[0]).abs().max() < 1e-4  # latents reach 5: float32 rounding of other batch sizes


def test_control_image_sizes(control_pipe, embeds):
    large = _generate(control_pipe, embeds, _edges(size=(64, 64), box=(12, 16, 48, 52)), guidance_scale=1.0)
    assert large.shape == (1, 4, 16, 16)  # same aspect ratio: resized like the original
    with pytest.raises(InputError, match=r"control image is 64x32 but the output is 32x32: the aspect ratios differ"):
        _generate(control_pipe, embeds, _edges(size=(64, 32)))


def test_several_controlnets_add_their_residuals(control_pipe, embeds):
    twins = BlipDiffusionControlNetPipeline.from_base(control_pipe, [control_pipe.controlnet] * 2)
    twins.set_progress_bar_config(disable=True)
    assert isinstance(twins.controlnet, MultiControlNetModel)
    halves = _generate(twins, embeds, [_edges(), _edges()], controlnet_conditioning_scale=[0.5, 0.5],
                       guidance_scale=1.0)
    whole = _generate(control_pipe, embeds, _edges(), guidance_scale=1.0)
    assert (halves - whole).abs().max() < 1e-5  # 0.5 r + 0.5 r = r
    with pytest.raises(InputError, match="2 ControlNets need a list of 2 control images"):
        _generate(twins, embeds, _edges())
    with pytest.raises(InputError, match="2 ControlNets need a list of 2 control images"):
        _generate(twins, embeds, [_edges()] * 3)
    with pytest.raises(InputError, match=r"controlnet_conditioning_scale: give one number or one per ControlNet \(2\)"):
        _generate(twins, embeds, [_edges(), _edges()], controlnet_conditioning_scale=[1.0, 1.0, 1.0])


def test_several_controlnets_save_and_load(control_pipe, tmp_path):
    other = ControlNetModel.from_unet(control_pipe.unet, conditioning_embedding_out_channels=(8, 16))
    pair = BlipDiffusionControlNetPipeline.from_base(control_pipe, [control_pipe.controlnet, other])
    pair.save_pretrained(tmp_path / "pair")
    index = json.loads((tmp_path / "pair" / "model_index.json").read_text())
    assert index["controlnet"] == index["controlnet_1"] == ["diffusers", "ControlNetModel"]
    reloaded = BlipDiffusionControlNetPipeline.from_pretrained(tmp_path / "pair")
    assert len(reloaded.controlnets) == 2
    for ours, theirs in zip(pair.controlnets, reloaded.controlnets):
        mine, yours = ours.state_dict(), theirs.state_dict()
        assert all(torch.equal(mine[k], yours[k]) for k in mine)


def test_any_fitting_controlnet_works_and_unfitting_ones_are_refused(control_pipe, embeds):
    fresh = ControlNetModel.from_unet(control_pipe.unet, conditioning_embedding_out_channels=(8, 16))
    own = BlipDiffusionControlNetPipeline.from_base(control_pipe, fresh)
    own.set_progress_bar_config(disable=True)
    assert _generate(own, embeds, _edges(), guidance_scale=1.0).shape == (1, 4, 16, 16)
    config = dict(control_pipe.controlnet.config) | {"cross_attention_dim": 48}
    wrong = ControlNetModel.from_config(config)
    with pytest.raises(InputError, match="cross_attention_dim is 48 in the ControlNet and 32 in the UNet"):
        BlipDiffusionControlNetPipeline.from_base(control_pipe, wrong)


def test_controlnet_argument_replaces_the_folder_controlnet(control_pipe):
    fresh = ControlNetModel.from_unet(control_pipe.unet, conditioning_embedding_out_channels=(8, 16))
    pipe = BlipDiffusionControlNetPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER,
                                                           controlnet=fresh)
    assert pipe.controlnet is fresh and CONTROL_MODEL.name not in pipe.model_name


def test_feature_cache_adds_the_control_residuals_on_cached_steps(control_pipe, embeds):
    exact = _generate(control_pipe, embeds, _edges(), num_inference_steps=3)
    try:
        assert torch.equal(_generate(control_pipe.enable_feature_cache(1), embeds, _edges(), num_inference_steps=3),
                           exact)
        control_pipe.enable_feature_cache(2)
        with _counting_calls(control_pipe.controlnet) as control_calls, \
                _counting_calls(control_pipe.unet.mid_block) as deep_calls:
            cached = _generate(control_pipe, embeds, _edges(), num_inference_steps=3)
    finally:
        control_pipe.disable_feature_cache()
    steps = len(control_pipe.scheduler.timesteps)
    assert len(control_calls) == steps and len(deep_calls) == len(range(0, steps, 2))
    assert cached.shape == exact.shape and not torch.equal(cached, exact)
