"""The pooled-text path into the UNet: it starts as a no-op, learns, survives saving, and stage 2 trains it."""

import numpy as np
import pytest
import torch
from diffusers import UNet2DConditionModel
from PIL import Image

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.errors import InputError
from blip_diffusion.training.base import UnetPart, unet_config
from blip_diffusion.training.pooled_text import with_pooled_text_embedding
from blip_diffusion.training.stage2 import train_stage2

from .conftest import tiny_stage2_config


def tiny_unet(**config) -> UNet2DConditionModel:
    torch.manual_seed(0)
    return UNet2DConditionModel(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                                down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), layers_per_block=1,
                                attention_head_dim=4, norm_num_groups=8, **{"cross_attention_dim": 32, **config})


def predict(unet, text):
    torch.manual_seed(1)
    return unet(torch.randn(2, 4, 8, 8), torch.tensor([10, 900]), encoder_hidden_states=text).sample


def test_starts_as_the_unet_it_extends_then_learns_from_the_text():
    unet = tiny_unet()
    pooled = with_pooled_text_embedding(unet)
    assert pooled.config.addition_embed_type == "text" and with_pooled_text_embedding(pooled) is pooled
    text = torch.randn(2, 6, 32)
    with torch.no_grad():
        assert torch.equal(predict(unet, text), predict(pooled, text))
    predict(pooled, text).pow(2).mean().backward()
    assert pooled.add_embedding.norm2.weight.grad.abs().sum() > 0  # the zeroed scale is what learns first


def test_saved_and_loaded_it_predicts_the_same(tmp_path):
    pooled = with_pooled_text_embedding(tiny_unet())
    with torch.no_grad():
        pooled.add_embedding.norm2.weight.fill_(0.5)  # as after training
    pooled.save_pretrained(tmp_path)
    loaded = UNet2DConditionModel.from_pretrained(tmp_path)
    text = torch.randn(2, 6, 32)
    with torch.no_grad():
        assert torch.equal(predict(pooled, text), predict(loaded, text))
        assert not torch.equal(predict(loaded, text), predict(loaded, text.flip(1) * 2))


@pytest.mark.parametrize(("config", "message"), [({"cross_attention_dim": 36},
                                                  "text width 36 is not a multiple of the 8 pooling heads"),
                                                 ({"addition_embed_type": "text_time", "addition_time_embed_dim": 8,
                                                   "projection_class_embeddings_input_dim": 48},
                                                  "already adds 'text_time' embeddings")])
def test_unets_it_cannot_extend_are_named(config, message):
    with pytest.raises(InputError, match=message):
        with_pooled_text_embedding(tiny_unet(**config))


def test_stage2_trains_it_and_the_pipeline_generates_with_it(tmp_path, tiny_base, tiny_stage1):
    model = train_stage2(tiny_stage2_config(tmp_path, tiny_base, tiny_stage1, steps=1,
                                            extra=("pooled_text_embedding=true",)))
    pipe = BlipDiffusionPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.unet.config.addition_embed_type == "text"
    assert pipe.unet.add_embedding.norm2.weight.abs().sum() > 0
    photo = Image.fromarray(np.full((32, 32, 3), 200, np.uint8))
    images = pipe("on the beach", pipe.encode_subject([photo], "ball"), num_inference_steps=2, height=32, width=32,
                  output_type="np", generator=torch.Generator().manual_seed(0)).images
    assert images.shape == (1, 32, 32, 3) and np.isfinite(images).all()


def test_the_base_unet_can_be_built_with_it_from_the_start():
    with_it = UNet2DConditionModel.from_config(unet_config(UnetPart(pooled_text_embedding=True), 32, 4, 8))
    assert with_it.config.addition_embed_type == "text" and with_it.add_embedding.pool.num_heads == 8
    assert UNet2DConditionModel.from_config(unet_config(UnetPart(), 32, 4, 8)).config.addition_embed_type is None
    with pytest.raises(InputError, match="text width 36 is not a multiple"):
        unet_config(UnetPart(pooled_text_embedding=True), 36, 4, 8)
