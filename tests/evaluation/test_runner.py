"""A whole run with fake generators and the tiny metric models: shards, settings check, scores by hand."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.dreambench import PROMPTS_FILE
from blip_diffusion.evaluation.pipeline_generator import GenerationSettings
from blip_diffusion.evaluation.runner import (
    SETTINGS_FILE,
    EvalConfig,
    evaluate,
    generate_shard,
    plan,
    prepare_output,
)
from tests.evaluation.conftest import CLIP_MODEL, DINO_MODEL, DREAMBENCH, FakeGenerator, PhotoGenerator


def _config(data, out, **changes) -> EvalConfig:
    config = EvalConfig(
        model="some/model",
        data=data,
        out=out,
        subjects=("dog", "teapot"),
        images_per_prompt=2,
        max_prompts=2,
        dino_model=str(DINO_MODEL),
        clip_model=str(CLIP_MODEL),
    )
    return dataclasses.replace(config, **changes)


def _unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def test_two_shards_then_scores_worked_out_by_hand(tmp_path, dino, clip):
    config = _config(DREAMBENCH, tmp_path)
    subjects, requests = plan(config)
    prepare_output(config, write=True)
    photos = {s.name: s.images[0] for s in subjects}
    made = [generate_shard(config, requests, lambda: PhotoGenerator(photos), i, 2) for i in range(2)]
    assert made == [4, 4]
    report = evaluate(config, subjects, requests)

    dog = subjects[0]
    real = [Image.open(p).convert("RGB") for p in dog.images]
    d = _unit(dino.encode_images(real))  # every dog image is photo 00: its mean cosine to the 5 photos
    assert report["per_subject"]["dog"]["dino"] == pytest.approx(float((d @ d[0]).mean()), abs=1e-6)
    c = _unit(clip.encode_images(real))
    assert report["per_subject"]["dog"]["clip_i"] == pytest.approx(float((c @ c[0]).mean()), abs=1e-6)
    pairs = [float(d[i] @ d[j]) for i in range(5) for j in range(5) if i != j]
    assert report["per_subject"]["dog"]["real_dino"] == pytest.approx(sum(pairs) / 20, abs=1e-6)
    text = _unit(clip.encode_texts(["a dog in the snow"]))[0]  # prompt 1, placeholder removed
    assert report["images"][2]["clip_t"] == pytest.approx(float(c[0] @ text), abs=1e-6)
    assert (tmp_path / "report.md").is_file() and (tmp_path / "grids" / "teapot.jpg").is_file()


def test_identical_images_score_one_end_to_end(tmp_path):
    data = tmp_path / "data"
    (data / "dog").mkdir(parents=True)
    shutil.copy(DREAMBENCH / PROMPTS_FILE, data / PROMPTS_FILE)
    for name in ("00.jpg", "01.jpg"):
        shutil.copy(DREAMBENCH / "dog" / "02.jpg", data / "dog" / name)
    config = _config(data, tmp_path / "out", subjects=("dog",))
    subjects, requests = plan(config)
    generate_shard(config, requests, lambda: PhotoGenerator({"dog": DREAMBENCH / "dog" / "02.jpg"}))
    report = evaluate(config, subjects, requests)
    assert report["scores"]["dino"] == pytest.approx(1.0, abs=1e-6)
    assert report["scores"]["clip_i"] == pytest.approx(1.0, abs=1e-6)
    assert report["real"] == pytest.approx({"dino": 1.0, "clip_i": 1.0}, abs=1e-6)


def test_scoring_refuses_an_incomplete_folder(tmp_path):
    config = _config(DREAMBENCH, tmp_path)
    subjects, requests = plan(config)
    generate_shard(config, requests, FakeGenerator, 0, 2)
    with pytest.raises(RuntimeError, match="4 of 8 images are missing"):
        evaluate(config, subjects, requests)


def test_resuming_with_other_settings_is_refused(tmp_path):
    config = _config(DREAMBENCH, tmp_path)
    prepare_output(config, write=True)
    recorded = json.loads((tmp_path / SETTINGS_FILE).read_text())
    assert recorded["num_inference_steps"] == 50 and recorded["seed"] == 0
    prepare_output(dataclasses.replace(config, images_per_prompt=4, subjects=("cat",)), write=True)
    other = dataclasses.replace(config, seed=1, generation=GenerationSettings(num_inference_steps=25))
    with pytest.raises(InputError) as info:
        prepare_output(other, write=True)
    message = str(info.value)
    assert "seed: 0 there, 1 now" in message and "num_inference_steps: 50 there, 25 now" in message
    assert "\n" not in message
    assert json.loads((tmp_path / SETTINGS_FILE).read_text()) == recorded
    assert "feature_cache" not in recorded  # recorded only when on: older folders resume
    cached = dataclasses.replace(config, generation=GenerationSettings(feature_cache=3))
    with pytest.raises(InputError, match="feature_cache: None there, 3 now"):
        prepare_output(cached, write=True)
