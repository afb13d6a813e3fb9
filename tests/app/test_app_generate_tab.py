"""The zero-shot tab in headless Chromium: upload, generate, see the image, download it with its settings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import DOG, IMAGE_PIXELS, UPLOAD_MB
from tests.app.helpers import fill_generate

pytest.importorskip("gradio")
expect = pytest.importorskip("playwright.sync_api", reason="playwright is not installed").expect

GENERATION_TIMEOUT_MS = 120_000  # 2 steps at 64x64 on a busy 2-core machine


def test_generate_shows_the_image_and_downloads_it_with_its_settings(page, tmp_path):
    fill_generate(page, DOG, prompt="on the beach", seed=5)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generate-gallery img")).to_have_count(1, timeout=GENERATION_TIMEOUT_MS)
    with page.expect_download() as download_info:
        page.locator('#generate-files a[download="image_000005.png"]').click()
    path = tmp_path / download_info.value.suggested_filename
    download_info.value.save_as(path)
    image = Image.open(path)
    settings = json.loads(image.text["parameters"])
    assert image.size == (64, 64) and image.text["seed"] == "5"
    assert settings["prompt"] == "on the beach" and settings["subject"] == ["00.jpg"]
    assert settings["subject_class"] == "dog" and settings["steps"] == 2 and settings["size"] == "64x64"


def test_a_refused_photo_shows_its_message_and_no_traceback(page, tmp_path):
    huge = tmp_path / "huge.png"  # small file, too many pixels
    Image.new("RGB", (1001, 1000), "white").save(huge)
    fill_generate(page, huge, prompt="on the beach", seed=0)
    page.get_by_role("button", name="Generate").click()
    toast = page.locator(".toast-body")
    message = f"huge.png is 1001x1000 = 1001000 pixels; this server accepts photos up to {IMAGE_PIXELS}"
    expect(toast).to_contain_text(f"{message} pixels (--max-image-pixels)", timeout=GENERATION_TIMEOUT_MS)
    assert "Traceback" not in page.content() and "File \"" not in toast.inner_text()
    expect(page.locator("#generate-gallery img")).to_have_count(0)


def test_an_oversize_upload_is_refused(page, tmp_path):
    big = tmp_path / "big.png"  # noise does not compress: about 0.46 MB
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(big)
    assert big.stat().st_size > UPLOAD_MB * 1024 * 1024
    page.locator("#generate-subject input[type=file]").set_input_files(str(big))
    expect(page.locator(".toast-body")).to_contain_text('exceed the maximum allowed size', timeout=20_000)
    expect(page.locator(".toast-body")).to_contain_text('"big.png"')
    expect(page.locator("#generate-subject").get_by_text("big.png")).to_have_count(0)
