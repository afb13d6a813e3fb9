"""Fine-tuning in Chromium (train, pick, generate); through the API: the LoRA acts only in its own request."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import DOG
from tests.app.helpers import api_client, fill, fill_tiny, open_tab, upload

pytest.importorskip("gradio")
from gradio_client import handle_file  # after the skip
from gradio_client.exceptions import AppError  # after the skip

from blip_diffusion.app.tabs.finetune import lora_subject  # after the skip

TIMEOUT_MS = 180_000
FAST = {"negative_prompt": "", "seed": 0, "steps": 2, "guidance": 7.5, "width": 64, "height": 64,
        "num_images": 1}


def _zero_shot(pipe) -> np.ndarray:
    return np.asarray(pipe("on the beach", [DOG], "dog", num_inference_steps=2, height=64, width=64,
                           generator=[torch.Generator().manual_seed(0)]).images[0])


def test_finetune_tab_trains_lists_and_generates(page):
    expect = pytest.importorskip("playwright.sync_api").expect
    panel = open_tab(page, "Fine-tune a subject", "finetune")
    upload(panel, "finetune-photos", DOG)
    fill(panel, {"New subject's name": "browser_dog", "Subject class word": "dog", "Prompt": "on the beach"},
         exact=True)
    fill(panel, {"Fine-tuning steps": 2})
    fill_tiny(panel)
    panel.get_by_role("button", name="Fine-tune").click()
    expect(panel.locator("#finetune-status")).to_contain_text("Fine-tuned browser_dog", timeout=TIMEOUT_MS)
    expect(panel.locator("#finetune-saved input")).to_have_value("browser_dog")
    panel.get_by_role("button", name="Generate").click()
    expect(panel.locator("#finetune-gallery img")).to_have_count(1, timeout=TIMEOUT_MS)


def test_a_finetuned_subject_changes_only_its_own_request(server, pipe):
    client, keys, before = api_client(server.url), set(pipe.unet.state_dict()), _zero_shot(pipe)
    client.predict(name="api_dog", files=[handle_file(str(DOG))], subject_class="dog", steps=2, seed=0,
                   api_name="/finetune")
    assert "api_dog" in [name for name, _ in client.predict(api_name="/saved_subjects")["choices"]]
    _, files = client.predict(name="api_dog", target_class="", prompt="on the beach", **FAST,
                              api_name="/generate_finetuned")
    with lora_subject(pipe, server.ctx.subjects_dir / "api_dog") as subject:
        expected = pipe("on the beach", subject, num_inference_steps=2, height=64, width=64,
                        generator=[torch.Generator().manual_seed(0)]).images[0]
    tuned = np.asarray(Image.open(files[0]))
    assert np.array_equal(tuned, np.asarray(expected)) and not np.array_equal(tuned, before)
    assert np.array_equal(_zero_shot(pipe), before) and set(pipe.unet.state_dict()) == keys


@pytest.mark.parametrize("name, steps, word, message", [
    ("bad name!", 2, "dog", "subject name must be 1-64 letters, digits, _ or -"),
    ("dog2", 5, "dog", r"fine-tuning steps must be between 1 and 4 on this server \(--max-finetune-steps\)"),
    ("dog2", 2, "", "subject class word is required"),
])
def test_bad_finetune_requests_are_refused(server, name, steps, word, message):
    with pytest.raises(AppError, match=message):
        client = api_client(server.url)
        client.predict(name=name, files=[handle_file(str(DOG))], subject_class=word, steps=steps, seed=0,
                       api_name="/finetune")
    assert not (server.ctx.subjects_dir / name).exists()
