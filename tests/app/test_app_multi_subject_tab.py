"""Multi-subject prompts in Chromium (from the DreamBench example row); the API against the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import CAT, DOG
from tests.app.helpers import api_client, fill_tiny, open_tab

pytest.importorskip("gradio")
from gradio_client import handle_file  # after the skip

from blip_diffusion.pipelines.multi_subject import PromptSubject, generate_multi_subject  # after the skip

TIMEOUT_MS = 120_000
PROMPT = "a [dog] dog and a [cat] cat on the beach"


def test_multi_subject_tab_generates_the_example(page):
    expect = pytest.importorskip("playwright.sync_api").expect
    panel = open_tab(page, "Multi-subject", "multi_subject")
    panel.get_by_text(PROMPT, exact=True).click()
    for slot in (1, 2):  # the example's photos are loaded
        panel.locator(f'#multi-subject-{slot} a[download="00.jpg"]').wait_for()
    fill_tiny(panel)
    panel.get_by_role("button", name="Generate").click()
    expect(panel.locator("#multi-subject-gallery img")).to_have_count(1, timeout=TIMEOUT_MS)


def test_multi_subject_images_are_those_of_the_pipeline(server, pipe):
    empty = {"name_3": "", "files_3": [], "class_3": "", "region_3": "anywhere"}
    _, files = api_client(server.url).predict(
        prompt=PROMPT, name_1="dog", files_1=[handle_file(str(DOG))], class_1="dog", region_1="left",
        name_2="cat", files_2=[handle_file(str(CAT))], class_2="cat", region_2="right", **empty,
        negative_prompt="", seed=6, steps=2, guidance=7.5, width=64, height=64, num_images=1,
        api_name="/multi_subject")
    subjects = {"dog": PromptSubject([DOG], "dog", "left"), "cat": PromptSubject([CAT], "cat", "right")}
    expected = generate_multi_subject(pipe, PROMPT, subjects, num_inference_steps=2, height=64, width=64,
                                      generator=[torch.Generator().manual_seed(6)]).images[0]
    assert np.array_equal(np.asarray(Image.open(files[0])), np.asarray(expected))


def test_a_subject_the_prompt_does_not_name_is_refused(server):
    from gradio_client.exceptions import AppError

    client = api_client(server.url)
    message = r"subjects given but not referenced in the prompt: cat \(write \[name\]\)"
    with pytest.raises(AppError, match=message):
        client.predict(prompt="a [dog] dog", name_1="dog", files_1=[handle_file(str(DOG))], class_1="dog",
                       region_1="anywhere", name_2="cat", files_2=[handle_file(str(CAT))], class_2="cat",
                       region_2="anywhere", name_3="", files_3=[], class_3="", region_3="anywhere",
                       negative_prompt="", seed=0, steps=2, guidance=7.5, width=64, height=64, num_images=1,
                       api_name="/multi_subject")
