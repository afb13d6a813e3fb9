"""Editing real images: DDIM inversion, reconstruction, null-text optimisation and the blend."""

import copy

import pytest
import torch
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.attention_control import AttentionEditConfig
from blip_diffusion.pipelines.editing import BlipDiffusionEditPipeline
from blip_diffusion.pipelines.inversion import ddim_reconstruct, ddim_schedulers
from tests.editing.conftest import SMALL

SIZE = {"height": 32, "width": 32}
BLEND = AttentionEditConfig(blend_threshold=0.7, blend_downsample=1)


def _error(latents, inversion):
    return ((latents - inversion.image_latents).norm() / inversion.image_latents.norm()).item()


def test_inversion_is_exact_when_the_noise_prediction_ignores_the_latents(edit_pipe, dog_image, dog_subject):
    unet = copy.deepcopy(edit_pipe.unet)
    with torch.no_grad():
        unet.conv_in.weight.zero_()
        unet.conv_in.bias.zero_()
    pipe = BlipDiffusionEditPipeline.from_pipeline(edit_pipe)
    pipe.unet = unet
    pipe.set_progress_bar_config(disable=True)
    edited = pipe.edit("on the grass", dog_subject, image=dog_image, output_type="latent", attention=BLEND,
                       num_inference_steps=5, **SIZE)
    assert edited.reconstruction_error() < 1e-4  # float32 error only (measured 2.2e-5)


def test_one_step_inversion_reconstructs_the_fixture_closely(edit_pipe, dog_image, dog_subject):
    edited = edit_pipe.edit("on the grass", dog_subject, image=dog_image, output_type="latent",
                            attention=BLEND, num_inference_steps=1, **SIZE)
    assert edited.reconstruction_error() < 0.01  # measured 0.0026 (docs/editing.md)


def test_outside_the_blend_mask_the_edit_equals_the_reconstruction(edit_pipe, dog_image, dog_subject):
    edited = edit_pipe.edit("on the grass", dog_subject, image=dog_image, attention=BLEND, output_type="pil",
                            **SMALL)
    outside = edited.mask == 0
    assert 0 < outside.sum() < outside.numel()
    difference = edited.edited_latents - edited.source_latents
    assert difference.masked_select(outside).eq(0).all() and difference.abs().max() > 0
    assert edited.source_images[0].size == edited.edited_images[0].size == (32, 32)
    assert len(edited.inversion.trajectory) == SMALL["num_inference_steps"] + 1


def test_null_text_lowers_the_guided_reconstruction_error(edit_pipe, dog_image, dog_subject):
    edited = edit_pipe.edit("on the grass", dog_subject, image=dog_image, null_text=True, null_text_steps=3,
                            attention=BLEND, output_type="latent", num_inference_steps=2, **SIZE)
    inversion = edited.inversion
    assert len(inversion.null_embeds) == 2 and inversion.null_embeds[0].shape == (1, 77, 32)
    again = edit_pipe.invert(dog_image, "on the grass", "dog", num_inference_steps=2, **SIZE)
    pairs = zip(inversion.trajectory, again.trajectory, strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)  # deterministic
    cond = edit_pipe.encode_negative_prompt(["a dog on the grass"])
    sampler, _ = ddim_schedulers(edit_pipe.scheduler.config, 2, edit_pipe.device)
    empty = edit_pipe.encode_negative_prompt([""])
    plain = _error(ddim_reconstruct(edit_pipe.unet, sampler, inversion, cond, empty, 7.5), inversion)
    nulls = inversion.null_embeds
    fitted = _error(ddim_reconstruct(edit_pipe.unet, sampler, inversion, cond, nulls, 7.5), inversion)
    assert fitted < 0.95 * plain
    assert edited.reconstruction_error() == pytest.approx(fitted, rel=1e-3)  # the edit's source row


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"image": Image.new("RGB", (33, 32)), "height": None, "width": None}, "33x32 pixels, but each side"),
        ({"height": 32, "width": None}, "give both height and width"),
        ({"null_text": True, "guidance_scale": 1.0}, "null_text needs guidance_scale > 1"),
        ({"num_inference_steps": 2000}, r"num_inference_steps must be in 1\.\.1000"),
        ({"image": "missing.png"}, "image not found: missing.png"),
        ({"source_class": ""}, "source_class must be one non-empty text"),
        ({"latents": torch.zeros(1, 4, 16, 16)}, "latents cannot be given with image"),
    ],
)
def test_bad_real_image_input(edit_pipe, dog_image, dog_subject, kwargs, message):
    arguments = {"prompt": "on the grass", "reference_image": dog_subject, "image": dog_image,
                 "output_type": "latent", **SIZE, "num_inference_steps": 2, **kwargs}
    with pytest.raises(InputError, match=message):
        edit_pipe.edit(**arguments)
