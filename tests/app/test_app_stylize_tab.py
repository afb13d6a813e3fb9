"""Style transfer in Chromium: the structure's edges and the stylised image appear; the API vs stylize()."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import CAT, DOG
from tests.app.helpers import api_client, fill, fill_tiny, open_tab, upload

pytest.importorskip("gradio")
from gradio_client import handle_file  # after the skip

from blip_diffusion.pipelines.stylize import stylize  # after the skip

TIMEOUT_MS = 120_000


def test_stylize_tab_shows_the_edges_and_the_image(page):
    expect = pytest.importorskip("playwright.sync_api").expect
    panel = open_tab(page, "Style transfer", "stylize")
    upload(panel, "stylize-style", CAT)
    upload(panel, "stylize-structure", DOG)
    fill(panel, {"What the style image shows": "cat", "Prompt": "on a marble table"}, exact=True)
    fill_tiny(panel)
    panel.get_by_role("button", name="Generate").click()
    expect(panel.locator("#stylize-gallery img")).to_have_count(1, timeout=TIMEOUT_MS)
    expect(panel.locator("#stylize-edges img")).to_have_count(1)


def test_stylized_images_are_those_of_stylize(server):
    _, files, edges = api_client(server.url).predict(
        style_files=[handle_file(str(CAT))], style_class="cat", structure_file=handle_file(str(DOG)),
        target_class="teapot", prompt="on a marble table", low=50, high=150, scale=0.8, negative_prompt="",
        seed=2, steps=2, guidance=7.5, long_side=64, num_images=1, api_name="/stylize")
    expected = stylize(server.ctx.control_pipe, [CAT], "cat", DOG, ["on a marble table"], "teapot", 50, 150,
                       height=64, width=64, num_inference_steps=2, controlnet_conditioning_scale=0.8,
                       generator=[torch.Generator().manual_seed(2)])
    assert np.array_equal(np.asarray(Image.open(files[0])), np.asarray(expected.images[0]))
    assert np.array_equal(np.asarray(Image.open(edges)), np.asarray(expected.edges))
    assert Image.open(files[0]).text["seed"] == "2"
