"""Generation behaviour on the fixture model: batching, subjects, schedulers, errors."""

import numpy as np
import pytest
import torch

from blip_diffusion import SubjectEmbedding
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.schedulers import SCHEDULERS, make_scheduler
from tests.conftest import ASSETS

DOGS = sorted((ASSETS / "dreambench" / "dog").glob("*.jpg"))[:3]
SMALL = {"num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}


def _seeded(n=1, seed=0):
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


def test_batch_rows_equal_single_calls(pipe, dog_image):
    batch = pipe(["on the beach", "in the snow"], dog_image, "dog", generator=_seeded(2), **SMALL).images
    first = pipe("on the beach", dog_image, "dog", generator=_seeded(1), **SMALL).images
    second = pipe("in the snow", dog_image, "dog", generator=_seeded(1, seed=1), **SMALL).images
    assert batch.shape == (2, 64, 64, 3)
    assert np.abs(batch[0] - first[0]).max() < 1e-5 and np.abs(batch[1] - second[0]).max() < 1e-5


def test_num_images_per_prompt(pipe, dog_image):
    images = pipe(["on the beach", "in the snow"], dog_image, "dog", num_images_per_prompt=3,
                  generator=_seeded(6), **SMALL).images
    assert images.shape == (6, 64, 64, 3)
    assert np.abs(images[0] - images[1]).max() > 1e-3  # different noise per image


def test_several_photos_are_averaged_with_weights(pipe):
    each = [pipe.encode_subject(p, "dog").embeds for p in DOGS]
    mean = pipe.encode_subject(DOGS, "dog").embeds
    assert torch.allclose(mean, torch.stack(each).mean(0), atol=1e-5)
    weighted = pipe.encode_subject(DOGS, "dog", weights=[1, 0, 0]).embeds
    assert torch.allclose(weighted, each[0], atol=1e-5)
    with pytest.raises(InputError, match="weights must be 3"):
        pipe.encode_subject(DOGS, "dog", weights=[1, 2])


def test_subject_file_round_trip_gives_the_same_images(pipe, tmp_path):
    subject = pipe.encode_subject(DOGS, "dog")
    assert len(subject.image_hashes) == 3
    path = subject.save(tmp_path / "dog.safetensors")
    assert path.stat().st_size < 64 * 1024
    loaded = SubjectEmbedding.load(path)
    assert loaded.category == "dog" and loaded.image_hashes == subject.image_hashes
    from_file = pipe("on the beach", path, generator=_seeded(), **SMALL).images
    from_photos = pipe("on the beach", DOGS, "dog", generator=_seeded(), **SMALL).images
    assert np.abs(from_file - from_photos).max() < 1e-5


def test_subject_file_from_another_model_is_refused(pipe, tmp_path):
    subject = pipe.encode_subject(DOGS[0], "dog")
    subject.model_probe = subject.model_probe + 1.0
    path = subject.save(tmp_path / "other.safetensors")
    with pytest.raises(InputError, match="made by another model"):
        pipe("on the beach", path, **SMALL)


def test_not_a_subject_file(pipe, tmp_path):
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a subject file"):
        pipe("on the beach", path, **SMALL)


def test_precomputed_embeddings_and_target_class(pipe, dog_image):
    embeds = pipe.encode_subject(dog_image, "dog").embeds
    images = pipe("in the snow", embeds, target_subject_category="tiger", generator=_seeded(), **SMALL).images
    assert images.shape == (1, 64, 64, 3)
    with pytest.raises(InputError, match="subject embeddings must have shape"):
        pipe("in the snow", torch.zeros(3, 5), target_subject_category="tiger", **SMALL)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_every_scheduler_runs_and_is_deterministic(pipe, dog_image, name):
    original = pipe.scheduler
    try:
        pipe.scheduler = make_scheduler(name, original.config)
        first = pipe("on the beach", dog_image, "dog", generator=_seeded(), **SMALL).images
        second = pipe("on the beach", dog_image, "dog", generator=_seeded(), **SMALL).images
    finally:
        pipe.scheduler = original
    assert np.isfinite(first).all() and (first == second).all()


def test_scale_model_input_is_applied(pipe, dog_image):
    """Euler needs its input scaled by 1/sqrt(sigma^2 + 1); skipping it would give different latents."""
    original = pipe.scheduler
    calls = []
    try:
        pipe.scheduler = make_scheduler("euler", original.config)
        scale = pipe.scheduler.scale_model_input
        pipe.scheduler.scale_model_input = lambda sample, t: calls.append(t) or scale(sample, t)
        pipe("on the beach", dog_image, "dog", generator=_seeded(), **SMALL)
    finally:
        pipe.scheduler = original
    assert len(calls) == 2


def test_long_negative_prompt_is_truncated(pipe, dog_image):
    images = pipe("on the beach", dog_image, "dog", negative_prompt="blurry, " * 200, generator=_seeded(),
                  **SMALL).images
    assert np.isfinite(images).all()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prompt": ""}, "prompt must be a non-empty"),
        ({"height": 63}, "height must be a positive multiple of 2"),
        ({"num_inference_steps": 0}, "num_inference_steps must be at least 1"),
        ({"output_type": "jpeg"}, "output_type must be one of"),
        ({"source_subject_category": None}, "source_subject_category is required"),
        ({"target_subject_category": ["a", "b"]}, "target_subject_category has 2 entries"),
        ({"latents": torch.zeros(1, 4, 8, 8)}, "latents must have shape"),
        ({"prompt": 3}, "prompt must be a non-empty text or list of texts, got 3"),
        ({"reference_image": None}, "reference_image is required"),
        ({"num_images_per_prompt": 0}, "num_images_per_prompt must be a whole number of at least 1, got 0"),
        ({"num_images_per_prompt": 1.5}, "num_images_per_prompt must be a whole number"),
        ({"guidance_scale": "7.5"}, "guidance_scale must be a number, got '7.5'"),
        ({"prompt": ["a", "b"], "generator": [torch.Generator()] * 3}, r"one generator per image \(2\), got 3"),
    ],
)
def test_bad_arguments_are_clear_errors(pipe, dog_image, kwargs, message):
    call = {"prompt": "on the beach", "reference_image": dog_image, "source_subject_category": "dog", **SMALL}
    with pytest.raises(InputError, match=message):
        pipe(**(call | kwargs))


def test_unknown_scheduler_lists_the_valid_ones(pipe):
    with pytest.raises(InputError, match="choose one of pndm, ddim, dpm, euler, euler_a"):
        make_scheduler("heun2", pipe.scheduler.config)


def test_samplers_never_clip_latents_unless_the_config_asks(pipe):
    assert "clip_sample" not in pipe.scheduler.config  # PNDM, as the original's model folders
    assert make_scheduler("ddim", pipe.scheduler.config).config.clip_sample is False
    asked = dict(pipe.scheduler.config) | {"clip_sample": True}
    assert make_scheduler("ddim", asked).config.clip_sample is True
    assert "clip_sample" not in make_scheduler("dpm", pipe.scheduler.config).config
