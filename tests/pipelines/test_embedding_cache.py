"""Cached subject and prompt embeddings: same images as without the cache, reused only for equal inputs."""

import numpy as np
import pytest
import torch

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.embedding_cache import EmbeddingCache, image_digest, tensor_digest
from tests.conftest import FIXTURE_MODEL, QFORMER_TOKENIZER

ARGS = {"num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}


def test_least_recently_used_entry_goes_first():
    cache = EmbeddingCache(max_entries=2)
    calls = []

    def value(n):
        return lambda: calls.append(n) or torch.tensor(n)

    cache.get("a", value(1))
    cache.get("b", value(2))
    assert cache.get("a", value(99)).item() == 1  # hit: "a" is now the most recent
    cache.get("c", value(3))  # evicts "b"
    assert list(cache.entries) == ["a", "c"]
    assert cache.get("b", value(4)).item() == 4
    assert calls == [1, 2, 3, 4] and (cache.hits, cache.misses) == (1, 4)
    with pytest.raises(ValueError, match="max_entries"):
        EmbeddingCache(0)


def test_digests_tell_contents_apart(dog_image):
    flipped = dog_image.transpose(0)
    assert image_digest(dog_image) == image_digest(dog_image.copy()) != image_digest(flipped)
    x = torch.arange(6.0).reshape(2, 3)
    assert tensor_digest(x) == tensor_digest(x.clone()) != tensor_digest(x + 1e-6)
    assert tensor_digest(x) != tensor_digest(x.reshape(3, 2)) != tensor_digest(x.double())
    assert tensor_digest(x.to(torch.bfloat16)) != tensor_digest(x.half())


@pytest.fixture(scope="module")
def pipe():
    pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _images(pipe, prompt, image):
    return pipe(prompt, image, "dog", generator=torch.Generator().manual_seed(0), **ARGS).images


def test_cached_calls_give_the_uncached_images(pipe, dog_image):
    plain = _images(pipe, "on the beach", dog_image)
    other_prompt = _images(pipe, "in the snow", dog_image)
    pipe.enable_embedding_cache()
    try:
        first, second = (_images(pipe, "on the beach", dog_image) for _ in range(2))
        assert np.array_equal(first, plain) and np.array_equal(second, plain)
        assert (pipe.embedding_cache.hits, pipe.embedding_cache.misses) == (3, 3)  # subject, prompt, negative
        assert np.array_equal(_images(pipe, "in the snow", dog_image), other_prompt)
        assert pipe.embedding_cache.misses == 4  # only the new prompt
        _images(pipe, "on the beach", dog_image.transpose(0))
        assert pipe.embedding_cache.misses == 6  # the new subject, and the prompt with its embeddings
    finally:
        pipe.disable_embedding_cache()
    assert pipe.embedding_cache is None


def test_weights_apply_to_cached_reference_embeddings(pipe, dog_image):
    flipped = dog_image.transpose(0)
    plain = pipe.encode_subject([dog_image, flipped], "dog", weights=[3, 1]).embeds
    pipe.enable_embedding_cache()
    try:
        pipe.encode_subject([dog_image, flipped], "dog")
        cached = pipe.encode_subject([dog_image, flipped], "dog", weights=[3, 1]).embeds
        assert pipe.embedding_cache.hits == 1
    finally:
        pipe.disable_embedding_cache()
    assert torch.equal(cached, plain)


def test_entries_belong_to_a_dtype(pipe, dog_image):
    pipe.enable_embedding_cache()
    try:
        _images(pipe, "on the beach", dog_image)
        pipe.to(dtype=torch.float64)
        doubled = pipe.encode_negative_prompt([""])
        assert doubled.dtype == torch.float64 and pipe.embedding_cache.misses == 4
    finally:
        pipe.to(dtype=torch.float32)
        pipe.disable_embedding_cache()
