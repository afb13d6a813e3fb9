"""Structure control: the canny preview and generation in Chromium; the API's images against a direct call."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import CAT, DOG
from tests.app.helpers import api_client, fill, fill_tiny, open_tab, upload

pytest.importorskip("gradio")
from gradio_client import handle_file  # after the skip

from blip_diffusion.pipelines.control_images import canny_edges  # after the skip

TIMEOUT_MS = 120_000


def test_control_tab_previews_the_edges_and_follows_them(page):
    expect = pytest.importorskip("playwright.sync_api").expect
    panel = open_tab(page, "Structure control", "control")
    upload(panel, "control-subject", DOG)
    upload(panel, "control-image", CAT)
    fill(panel, {"Subject class word": "dog", "Prompt": "on the beach"}, exact=True)
    fill_tiny(panel)
    panel.get_by_role("button", name="Preview edges").click()
    expect(panel.locator("#control-map img")).to_have_count(1, timeout=TIMEOUT_MS)
    panel.get_by_role("button", name="Generate").click()
    expect(panel.locator("#control-gallery img")).to_have_count(1, timeout=TIMEOUT_MS)


def test_controlled_images_are_those_of_a_direct_call(server):
    _, files, control_map = api_client(server.url).predict(
        files=[handle_file(str(DOG))], subject_class="dog", prompt="on the beach",
        control_file=handle_file(str(CAT)), mode="canny edges of the photo", low=100, high=200, scale=1.0,
        negative_prompt="", seed=4, steps=2, guidance=7.5, long_side=64, num_images=1, api_name="/control")
    edges = canny_edges(CAT, 100, 200)
    expected = server.ctx.control_pipe("on the beach", [DOG], edges, "dog", num_inference_steps=2, height=64,
                                       width=64, generator=[torch.Generator().manual_seed(4)]).images[0]
    assert np.array_equal(np.asarray(Image.open(files[0])), np.asarray(expected))
    assert np.array_equal(np.asarray(Image.open(control_map)), np.asarray(edges))
