"""Interpolation in Chromium: the animation and frames appear; the API's GIF and frames vs the pipeline."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import CAT, DOG
from tests.app.helpers import api_client, fill, fill_tiny, open_tab, upload

pytest.importorskip("gradio")
from gradio_client import handle_file  # after the skip

TIMEOUT_MS = 120_000


def test_interpolate_tab_shows_the_animation_and_its_frames(page):
    expect = pytest.importorskip("playwright.sync_api").expect
    panel = open_tab(page, "Interpolation", "interpolate")
    upload(panel, "interpolate-a", DOG)
    upload(panel, "interpolate-b", CAT)
    fill(panel, {"Class word of A": "dog", "Class word of B": "cat", "Prompt": "on the beach"}, exact=True)
    fill(panel, {"Class word in the prompt": "animal", "Frames": 3})
    fill_tiny(panel)
    panel.get_by_role("button", name="Interpolate").click()
    expect(panel.locator("#interpolate-gallery img")).to_have_count(3, timeout=TIMEOUT_MS)
    animation = panel.locator("#interpolate-animation img")
    expect(animation).to_have_attribute("src", re.compile(r"interpolation\.gif$"))


def test_the_gif_runs_from_subject_a_to_subject_b(server, pipe):
    gif, _, files = api_client(server.url).predict(
        files_a=[handle_file(str(DOG))], class_a="dog", files_b=[handle_file(str(CAT))], class_b="cat",
        target_class="animal", prompt="on the beach", frames=3, method="linear", frame_ms=100, bounce=False,
        negative_prompt="", seed=9, steps=2, guidance=7.5, width=64, height=64, api_name="/interpolate")
    animation = Image.open(gif)
    assert animation.n_frames == 3 and animation.info["duration"] == 100
    weights = [json.loads(Image.open(f).text["parameters"])["weight_b"] for f in files]
    assert weights == [0.0, 0.5, 1.0]
    first = pipe("on the beach", [DOG], "dog", "animal", num_inference_steps=2, height=64, width=64,
                 generator=torch.Generator().manual_seed(9)).images[0]
    assert np.array_equal(np.asarray(Image.open(files[0])), np.asarray(first))
