"""Screenshots of every tab for docs/webui.md, taken in headless Chromium with the fixture model.

    .venv/bin/python -m tests.app.take_screenshots    # writes assets/screenshots/{generate,api}.png
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.app.context import AppContext
from blip_diffusion.app.limits import Limits
from tests.app.helpers import open_app, open_browser, start_app
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

OUT = ASSETS / "screenshots"
TIMEOUT_MS = 300_000


def generate_scene(page: Page) -> None:
    """The DreamBench dog example, two images of 128x128 in 4 steps."""
    page.get_by_role("tab", name="Zero-shot generation").click()
    page.get_by_text("on the beach", exact=True).click()
    expect(page.locator('#generate-subject a[download="02.jpg"]')).to_have_count(1)  # the example is loaded
    for label, value in (("Images", 2), ("Steps", 4), ("Width", 128), ("Height", 128)):
        page.get_by_label(label, exact=False).first.fill(str(value))
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generate-gallery img")).to_have_count(2, timeout=TIMEOUT_MS)


def api_scene(page: Page) -> None:
    """The API page ("Use via API"): every endpoint with its Python call."""
    page.locator("button.show-api").click()
    page.get_by_text("API name: /generate").wait_for()


SCENES: dict[str, Callable[[Page], None]] = {"generate": generate_scene, "api": api_scene}  # file name: scene


def main() -> int:
    # a relative model path, so that the header in the pictures names no folder of this machine
    model = os.path.relpath(FIXTURE_MODEL)
    pipe = BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = AppContext(pipe, Limits(), Path(tmp) / "out", ASSETS / "dreambench")
        app, url = start_app(ctx)
        with sync_playwright() as playwright:
            browser = open_browser(playwright, Path(tmp) / "profile")
            for name, scene in SCENES.items():
                page = open_app(browser, url)
                scene(page)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print(OUT / f"{name}.png")
            browser.close()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
