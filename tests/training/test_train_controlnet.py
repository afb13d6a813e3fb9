"""ControlNet training on the tiny base model: the UNet stays frozen, the ControlNet learns, and the
result steers a BLIP-Diffusion model built on the same base."""

import numpy as np
import pytest
import torch
from diffusers import ControlNetModel
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.models.loading import read_state_dict
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline
from blip_diffusion.training.config import load
from blip_diffusion.training.controlnet import (
    ControlNetConfig,
    ControlNetTask,
    controlnet_data,
    controlnet_from_unet,
    load_base_parts,
    train_controlnet,
)
from blip_diffusion.training.pooled_text import with_pooled_text_embedding
from blip_diffusion.training.stage2 import train_stage2

from .conftest import fit, fixed_batch, run_overrides, tiny_stage2_config

pytest.importorskip("cv2")


def config(out, base, steps=2, extra=()):
    overrides = [f"out={out}", f"base_model={base}", "data.resolution=32", *run_overrides("run.", steps, 2, 1e-3)]
    return load(ControlNetConfig, None, [*overrides, *extra])


def test_edges_are_the_condition_and_the_loss_falls(tmp_path, tiny_base):
    cfg = config(tmp_path, tiny_base, extra=("caption_dropout=0",))
    torch.manual_seed(0)
    task = ControlNetTask(cfg, load_base_parts(cfg.base_model), controlnet_data(cfg.data), torch.device("cpu"),
                          torch.float32)
    batch = fixed_batch(task, 2)
    assert batch["control"].shape == (2, 3, 32, 32) and set(batch["control"].unique().tolist()) <= {0.0, 1.0}
    assert set(task.modules()) == {"controlnet"}
    losses = fit(task, 8, 1e-3, batch_size=2)
    assert losses[-1] < losses[0], losses


def test_trained_controlnet_steers_blip_diffusion_and_the_unet_stays(tmp_path, tiny_base, tiny_stage1):
    out = train_controlnet(config(tmp_path / "controlnet", tiny_base, extra=("run.learning_rate=0.05",)))
    controlnet = ControlNetModel.from_pretrained(out)
    unet = read_state_dict(tiny_base / "unet")
    encoder_keys = [k for k in controlnet.state_dict() if k in unet]
    assert encoder_keys and all(k.startswith(("conv_in", "time_", "down_blocks", "mid_block")) for k in encoder_keys)
    model = train_stage2(tiny_stage2_config(tmp_path / "stage2", tiny_base, tiny_stage1, steps=1))
    pipe = BlipDiffusionControlNetPipeline.from_pretrained(model, controlnet=controlnet)
    pipe.set_progress_bar_config(disable=True)
    photo = Image.fromarray(np.tile(np.arange(32, dtype=np.uint8)[None, :, None] * 8, (32, 1, 3)))
    subject = pipe.encode_subject([photo], "star")
    square, empty = np.zeros((32, 32, 3), np.uint8), np.zeros((32, 32, 3), np.uint8)
    square[8:24, 8] = square[8:24, 24] = square[8, 8:24] = square[24, 8:25] = 255

    def draw(edges):
        return pipe("on the beach", subject, Image.fromarray(edges), num_inference_steps=2, height=32, width=32,
                    output_type="np", generator=torch.Generator().manual_seed(0)).images

    assert not np.array_equal(draw(square), draw(empty))


def test_a_pooled_text_embedding_is_copied_with_its_heads(tmp_path, tiny_base):
    unet = with_pooled_text_embedding(load_base_parts(tiny_base)["unet"])
    with torch.no_grad():
        unet.add_embedding.norm2.weight.fill_(1.0)
    controlnet = controlnet_from_unet(unet, (16, 32))
    controlnet.save_pretrained(tmp_path)
    states = torch.randn(2, 5, unet.config.cross_attention_dim)
    with torch.no_grad():
        assert torch.equal(ControlNetModel.from_pretrained(tmp_path).add_embedding(states), unet.add_embedding(states))


def test_bad_settings_are_refused(tmp_path, tiny_base):
    with pytest.raises(InputError, match="canny thresholds"):
        config(tmp_path, tiny_base, extra=("canny_low=300",))
    with pytest.raises(InputError, match="is not a model folder"):
        train_controlnet(config(tmp_path / "x", tmp_path / "nothing"))
    assert not (tmp_path / "x").exists()
