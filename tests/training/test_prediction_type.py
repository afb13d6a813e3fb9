"""Velocity prediction: the target, its Min-SNR weights, and the setting carried from the base model's
scheduler through stage 2 and fine-tuning to the pipelines that sample from it."""

import json

import pytest
import torch

from blip_diffusion.training.base import export_base, unet_config
from blip_diffusion.training.base_tasks import UnetTask, load_text_to_image_parts
from blip_diffusion.training.diffusion import (
    denoising_loss,
    denoising_target,
    min_snr_weights,
    training_scheduler,
)
from blip_diffusion.training.stage2 import train_stage2

from .conftest import encoded_photos, fixed_batch, tiny_base_config, tiny_stage2_config

CPU = torch.device("cpu")
V = {"prediction_type": "v_prediction"}


def test_the_target_is_the_noise_or_the_velocity_the_schedule_names():
    latents, noise = torch.randn(3, 4, 8, 8), torch.randn(3, 4, 8, 8)
    timesteps = torch.tensor([0, 500, 999])
    assert torch.equal(denoising_target(training_scheduler(), latents, noise, timesteps), noise)
    scheduler = training_scheduler(V)
    abar = scheduler.alphas_cumprod[timesteps][:, None, None, None]
    velocity = abar.sqrt() * noise - (1 - abar).sqrt() * latents
    assert torch.allclose(denoising_target(scheduler, latents, noise, timesteps), velocity, atol=1e-6)


def test_velocity_min_snr_weights_are_min_snr_gamma_over_snr_plus_one():
    scheduler = training_scheduler(V)
    timesteps = torch.arange(1000)
    abar = scheduler.alphas_cumprod
    snr = abar / (1 - abar)
    assert torch.allclose(min_snr_weights(scheduler, timesteps, 5.0), snr.clamp(max=5) / (snr + 1))


def test_a_velocity_unet_task_learns_the_velocity(tiny_base, tmp_path):
    _, encoded = encoded_photos(tiny_base, tmp_path / "encoded.safetensors", count=4)
    cfg = unet_config(tiny_base_config("unused").unet, 32, 4, 8)
    task = UnetTask(cfg, encoded, 0.0, 0.0, 0, CPU, False, prediction_type="v_prediction")
    batch = fixed_batch(task, 4)
    latents, states = batch["latents"], batch["states"].float()
    torch.manual_seed(5)  # the draws denoising_loss makes: noise, then timesteps
    noise = torch.randn(latents.shape)
    timesteps = torch.randint(0, 1000, (4,))
    with torch.no_grad():
        prediction = task.unet(task.scheduler.add_noise(latents, noise, timesteps), timesteps, states).sample
        torch.manual_seed(5)
        loss = denoising_loss(task.unet, task.scheduler, latents, states)
    velocity = task.scheduler.get_velocity(latents, noise, timesteps)
    assert torch.allclose(loss, (prediction - velocity).pow(2).mean(), rtol=1e-5)
    assert not torch.allclose(loss, (prediction - noise).pow(2).mean(), rtol=1e-2)


def test_an_unknown_prediction_type_is_refused():
    from blip_diffusion.errors import InputError

    with pytest.raises(InputError, match="unet.prediction_type must be one of epsilon, v_prediction"):
        tiny_base_config("unused", extra=("unet.prediction_type=sample",))


@pytest.fixture(scope="module")
def velocity_base(tiny_base, tmp_path_factory):
    """The tiny base model exported again as a velocity-predicting one (its weights unchanged)."""
    parts = load_text_to_image_parts(tiny_base)
    out = tmp_path_factory.mktemp("velocity") / "model"
    export_base(parts["unet"], parts["vae"], tiny_base.parent / "clip" / "model", out, prediction_type="v_prediction")
    return out


def test_a_velocity_base_model_saves_and_loads_its_prediction_type(velocity_base, tiny_base):
    saved = json.loads((velocity_base / "scheduler" / "scheduler_config.json").read_text())
    assert saved["prediction_type"] == "v_prediction"
    assert load_text_to_image_parts(velocity_base)["noise"].config.prediction_type == "v_prediction"
    assert load_text_to_image_parts(tiny_base)["noise"].config.prediction_type == "epsilon"


def test_stage2_and_fine_tuning_keep_the_base_models_prediction_type(velocity_base, tiny_stage1, tmp_path):
    from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
    from blip_diffusion.pipelines.schedulers import SCHEDULERS, make_scheduler
    from blip_diffusion.training.config import build
    from blip_diffusion.training.finetune import FinetuneConfig, load_base

    from .test_train_finetune import PHOTOS

    model = train_stage2(tiny_stage2_config(tmp_path / "stage2", velocity_base, tiny_stage1, steps=1))
    config = BlipDiffusionPipeline.from_pretrained(model).scheduler.config
    assert config.prediction_type == "v_prediction"
    for sampler in SCHEDULERS:
        assert make_scheduler(sampler, dict(config)).config.prediction_type == "v_prediction", sampler
    for method, folder in (("blip-diffusion", model), ("dreambooth", velocity_base)):
        config = build(FinetuneConfig, {"model": str(folder), "method": method, "subject": PHOTOS[:1],
                                        "subject_class": "dog", "out": str(tmp_path / method)})
        assert load_base(config)["noise"].config.prediction_type == "v_prediction", method
