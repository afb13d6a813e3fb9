"""DINO and CLIP loading from folders in the hub layouts, and their features."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.encoders import ClipEncoder, DinoEncoder
from blip_diffusion.evaluation.metrics import cosine_to_references, paired_cosine
from tests.evaluation.conftest import DREAMBENCH


@pytest.fixture(scope="module")
def photos() -> list[Image.Image]:
    return [Image.open(DREAMBENCH / "dog" / f"0{i}.jpg").convert("RGB") for i in range(3)]


def test_dino_preprocessing_follows_the_protocol(dino):
    assert (dino.transform.resize, dino.transform.crop) == (256, 224)
    assert dino.transform.mean == (0.485, 0.456, 0.406) and dino.transform.std == (0.229, 0.224, 0.225)


def test_clip_preprocessing_is_clips_own(clip):
    assert (clip.transform.resize, clip.transform.crop) == (224, 224)
    assert clip.transform.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))


def test_identical_images_score_one(dino, clip, photos):
    copies = [photos[0].copy(), photos[0].copy()]
    for encoder in (dino, clip):
        features = encoder.encode_images(copies)
        assert cosine_to_references(features[:1], features[1:]).item() == pytest.approx(1.0, abs=1e-6)


def test_features_do_not_depend_on_the_batch(dino, clip, photos):
    assert dino.encode_images(photos).shape == (3, 16)
    assert torch.allclose(dino.encode_images(photos, batch_size=2), dino.encode_images(photos), atol=1e-5)
    texts = ["a dog in the jungle", "a cube shaped dog with a long tail"]
    together = clip.encode_texts(texts)
    assert together.shape == (2, 16) and clip.encode_images(photos).shape == (3, 16)
    assert torch.allclose(
        together, torch.cat([clip.encode_texts(texts[:1]), clip.encode_texts(texts[1:])]), atol=1e-5
    )
    assert paired_cosine(together, together).tolist() == pytest.approx([1.0, 1.0])


def test_unloadable_model_is_a_one_line_input_error(tmp_path):
    for loader in (DinoEncoder.from_pretrained, ClipEncoder.from_pretrained):
        with pytest.raises(InputError) as info:
            loader(str(tmp_path / "missing"))
        assert str(tmp_path / "missing") in str(info.value) and "\n" not in str(info.value)
