"""The BlipDiffusionPipeline adapter: prompt split, per-request seeds, one subject encoding per subject."""

from __future__ import annotations

import numpy as np
import pytest

from blip_diffusion.evaluation.dreambench import PROMPTS_FILE, load_subjects, parse_prompts_file
from blip_diffusion.evaluation.pipeline_generator import (
    GenerationSettings,
    PipelineGenerator,
    pipeline_prompt,
)
from blip_diffusion.evaluation.worklist import build_requests
from tests.evaluation.conftest import BLIP_MODEL, DREAMBENCH, QFORMER_TOKENIZER

pipelines = pytest.importorskip("blip_diffusion.pipelines.blip_diffusion")

TINY = GenerationSettings(num_inference_steps=2, height=64, width=64)


def test_split_prompts_rebuild_the_dreambench_text():
    assert pipeline_prompt("a {class} in the jungle", "dog") == ("dog", "in the jungle")
    assert pipeline_prompt("a red {class}", "teapot") == ("red", "teapot")
    assert pipeline_prompt("a cube shaped {class}", "stuffed animal") == ("cube shaped", "stuffed animal")
    table = parse_prompts_file(DREAMBENCH / PROMPTS_FILE)
    for prompt in table.object_prompts + table.live_prompts:
        target, text = pipeline_prompt(prompt.pattern, "stuffed animal")
        built = pipelines.BlipDiffusionPipeline.build_prompt(text, target, 1.0, 1)
        assert built == prompt.format("stuffed animal")
    with pytest.raises(ValueError):
        pipeline_prompt("{class} in the jungle", "dog")


@pytest.fixture(scope="module")
def generator():
    subjects = load_subjects(DREAMBENCH, ["dog", "teapot"])
    photos = {s.name: s.images for s in subjects}
    return PipelineGenerator.from_pretrained(str(BLIP_MODEL), photos, TINY, str(QFORMER_TOKENIZER)), subjects


def test_images_depend_on_their_own_seed_only(generator):
    generate, subjects = generator
    requests = build_requests(subjects, images_per_prompt=2, seed=0, max_prompts=1)
    together = generate(requests[:2])
    alone = generate(requests[1:2])
    assert [image.size for image in together] == [(64, 64), (64, 64)]
    assert np.abs(np.asarray(together[1], np.int16) - np.asarray(alone[0], np.int16)).max() <= 1
    assert np.abs(np.asarray(together[0], np.int16) - np.asarray(together[1], np.int16)).max() > 10


def test_subject_is_encoded_once_per_subject(generator, monkeypatch):
    generate, subjects = generator
    calls = []
    encode = generate.pipe.encode_subject
    monkeypatch.setattr(
        generate.pipe, "encode_subject", lambda *a, **k: calls.append(a[1]) or encode(*a, **k)
    )
    generate._subject = None
    requests = build_requests(subjects, images_per_prompt=1, seed=0, max_prompts=2)  # dog 0, 1; teapot 0, 1
    for request in (requests[1], requests[2], requests[3]):
        generate([request])
    assert calls == ["dog", "teapot"]
    with pytest.raises(ValueError, match="one subject and prompt"):
        generate(requests[:2])


def test_settings_switch_the_feature_cache_on():
    from blip_diffusion.evaluation.pipeline_generator import load_pipeline

    settings = GenerationSettings(num_inference_steps=2, height=64, width=64, scheduler="dpm", feature_cache=3)
    pipe = load_pipeline(str(BLIP_MODEL), settings, str(QFORMER_TOKENIZER))
    assert pipe.feature_cache.interval == 3 and type(pipe.scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert load_pipeline(str(BLIP_MODEL), TINY, str(QFORMER_TOKENIZER)).feature_cache is None
