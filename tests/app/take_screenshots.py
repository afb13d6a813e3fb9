"""Screenshots of every tab for docs/webui.md, taken in headless Chromium with the fixture models.

    .venv/bin/python -m tests.app.take_screenshots    # writes assets/screenshots/<tab id>.png and api.png
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect, sync_playwright

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.app.context import AppContext
from blip_diffusion.app.limits import Limits
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline, load_controlnets
from tests.app.conftest import CONTROLNET_MODEL
from tests.app.helpers import fill, fill_tiny, open_app, open_browser, open_tab, start_app, upload
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

OUT = ASSETS / "screenshots"
PHOTOS = {name: sorted((ASSETS / "dreambench" / name).glob("*.jpg"))[:3] for name in ("dog", "cat", "teapot")}
SMALL = {"Steps": 4, "Width": 128, "Height": 128, "Long side": 128, "Images": 2}
TIMEOUT_MS = 600_000


def run(panel: Locator, button: str, result: str, count: int = 2) -> None:
    panel.get_by_role("button", name=button, exact=True).click()
    expect(panel.locator(f"{result} img")).to_have_count(count, timeout=TIMEOUT_MS)


def generate_scene(page: Page) -> None:
    panel = open_tab(page, "Zero-shot generation", "generate")
    panel.get_by_text("on the beach", exact=True).click()
    expect(panel.locator('#generate-subject a[download="02.jpg"]')).to_have_count(1)  # the example is loaded
    fill_tiny(panel, SMALL)
    run(panel, "Generate", "#generate-gallery")


def finetune_scene(page: Page) -> None:
    panel = open_tab(page, "Fine-tune a subject", "finetune")
    upload(panel, "finetune-photos", *PHOTOS["dog"])
    fill(panel, {"New subject's name": "my_dog", "Subject class word": "dog", "Prompt": "in the snow"},
         exact=True)
    fill(panel, {"Fine-tuning steps": 4})
    panel.get_by_role("button", name="Fine-tune").click()
    expect(panel.locator("#finetune-status")).to_contain_text("Fine-tuned my_dog", timeout=TIMEOUT_MS)
    fill_tiny(panel, SMALL)
    run(panel, "Generate", "#finetune-gallery")


def control_scene(page: Page) -> None:
    panel = open_tab(page, "Structure control", "control")
    upload(panel, "control-subject", *PHOTOS["dog"])
    upload(panel, "control-image", PHOTOS["cat"][0])
    fill(panel, {"Subject class word": "dog", "Prompt": "on the grass"}, exact=True)
    fill_tiny(panel, SMALL)
    run(panel, "Preview edges", "#control-map", 1)
    run(panel, "Generate", "#control-gallery")


def stylize_scene(page: Page) -> None:
    panel = open_tab(page, "Style transfer", "stylize")
    upload(panel, "stylize-style", PHOTOS["cat"][0])
    upload(panel, "stylize-structure", PHOTOS["teapot"][0])
    fill(panel, {"What the style image shows": "cat", "Prompt": "on a marble table"}, exact=True)
    fill(panel, {"What to draw": "teapot"})
    fill_tiny(panel, SMALL)
    run(panel, "Generate", "#stylize-gallery")


def edit_scene(page: Page) -> None:
    panel = open_tab(page, "Editing", "edit")
    upload(panel, "edit-subject", *PHOTOS["dog"])
    upload(panel, "edit-image", PHOTOS["cat"][0])
    fill(panel, {"Subject class word": "dog", "Prompt of the source image": "sitting on a sofa"}, exact=True)
    fill(panel, {"What the subject replaces": "cat"})
    fill_tiny(panel, SMALL)
    run(panel, "Edit", "#edit-mask", 1)


def interpolate_scene(page: Page) -> None:
    panel = open_tab(page, "Interpolation", "interpolate")
    upload(panel, "interpolate-a", *PHOTOS["dog"])
    upload(panel, "interpolate-b", *PHOTOS["cat"])
    fill(panel, {"Class word of A": "dog", "Class word of B": "cat", "Prompt": "on the beach"}, exact=True)
    fill(panel, {"Class word in the prompt": "animal", "Frames": 4})
    fill_tiny(panel, SMALL)
    run(panel, "Interpolate", "#interpolate-gallery", 4)


def multi_subject_scene(page: Page) -> None:
    panel = open_tab(page, "Multi-subject", "multi_subject")
    panel.get_by_text("a [dog] dog and a [cat] cat on the beach", exact=True).click()
    expect(panel.locator('#multi-subject-2 a[download="00.jpg"]')).to_have_count(1)
    fill_tiny(panel, SMALL)
    run(panel, "Generate", "#multi-subject-gallery")


def api_scene(page: Page) -> None:
    """The API page ("Use via API"): every endpoint with its Python call."""
    page.locator("button.show-api").click()
    page.get_by_text("API name: /generate").first.wait_for()


SCENES: dict[str, Callable[[Page], None]] = {  # file name: scene
    "generate": generate_scene, "finetune": finetune_scene, "control": control_scene,
    "stylize": stylize_scene, "edit": edit_scene, "interpolate": interpolate_scene,
    "multi_subject": multi_subject_scene, "api": api_scene,
}


def make_context(tmp: Path) -> AppContext:
    # relative model paths, so that the header in the pictures names no folder of this machine
    model = os.path.relpath(FIXTURE_MODEL)
    pipe = BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)
    control = BlipDiffusionControlNetPipeline.from_base(pipe, load_controlnets(CONTROLNET_MODEL, None))
    return AppContext(pipe, Limits(), tmp / "out", ASSETS / "dreambench", control, model=model,
                      qformer_tokenizer=str(QFORMER_TOKENIZER), subjects_dir=tmp / "subjects")


def main(names: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app, url = start_app(make_context(Path(tmp)))
        with sync_playwright() as playwright:
            browser = open_browser(playwright, Path(tmp) / "profile")
            for name in names or SCENES:
                page = open_app(browser, url)
                SCENES[name](page)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print(OUT / f"{name}.png")
                page.close()
            browser.close()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
