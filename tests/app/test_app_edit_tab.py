"""Editing in Chromium (source, edit and blend mask appear); through the API against the editing pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import CAT, DOG
from tests.app.helpers import api_client, fill, fill_tiny, open_tab, upload

pytest.importorskip("gradio")
from gradio_client import handle_file  # after the skip

from blip_diffusion.pipelines.attention_control import AttentionEditConfig  # after the skip
from blip_diffusion.pipelines.editing import BlipDiffusionEditPipeline  # after the skip

TIMEOUT_MS = 120_000
# the fixture UNet has two resolution levels: attention maps 1 or 2 times smaller than the latents
ATTENTION = {"cross_replace": 0.8, "self_replace": 0.4, "self_downsample": 2, "blend": True,
             "blend_threshold": 0.3, "blend_downsample": 2}


def test_edit_tab_shows_the_source_the_edit_and_the_mask(page):
    expect = pytest.importorskip("playwright.sync_api").expect
    panel = open_tab(page, "Editing", "edit")
    upload(panel, "edit-subject", DOG)
    fill(panel, {"Subject class word": "dog", "Prompt of the source image": "sitting on a sofa"}, exact=True)
    fill_tiny(panel)
    panel.get_by_role("button", name="Edit", exact=True).click()
    for result in ("edit-source", "edit-result", "edit-mask"):
        expect(panel.locator(f"#{result} img")).to_have_count(1, timeout=TIMEOUT_MS)


@pytest.mark.parametrize("real", [None, CAT], ids=["generated", "real"])
def test_edits_are_those_of_the_editing_pipeline(server, pipe, real):
    source, edited, mask, files = api_client(server.url).predict(
        files=[handle_file(str(DOG))], subject_class="dog", target_class="",
        source_class="cat" if real else "", prompt="sitting on a sofa", target_prompt="",
        image=handle_file(str(real)) if real else None, null_text=False, **ATTENTION, negative_prompt="",
        seed=3, steps=2, guidance=7.5, width=64, height=64, api_name="/edit")
    expected = BlipDiffusionEditPipeline.from_pipeline(pipe).edit(
        "sitting on a sofa", [DOG], "dog", source_class="cat" if real else None, image=real,
        attention=AttentionEditConfig(0.8, 0.4, 2, 0.3, 2), num_inference_steps=2, height=64, width=64,
        generator=torch.Generator().manual_seed(3))
    assert np.array_equal(np.asarray(Image.open(edited)), np.asarray(expected.edited_images[0]))
    assert np.array_equal(np.asarray(Image.open(source)), np.asarray(expected.source_images[0]))
    assert Image.open(mask).size == (64, 64) and len(files) == 3
    assert Path(source).name == ("reconstruction.png" if real else "source.png")
