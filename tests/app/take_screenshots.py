"""Screenshots of every tab for docs/webui.md, taken in headless Chromium: the bundled toy model
(ToyBench's striped ball, a held-out subject) where it serves the tab, the small random-weight
fixture models for structure control and style transfer (the toy model has no ControlNet yet).

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
TOY_MODEL = ASSETS / "models" / "toy" / "blip-diffusion"
BALL = sorted((ASSETS / "toyworld" / "demo-subject").glob("*.png"))
TOY = {"Steps": 25, "Width": 64, "Height": 64, "Images": 4}
TIMEOUT_MS = 600_000


def run(panel: Locator, button: str, result: str, count: int = 2) -> None:
    panel.get_by_role("button", name=button, exact=True).click()
    expect(panel.locator(f"{result} img")).to_have_count(count, timeout=TIMEOUT_MS)


def generate_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Zero-shot generation", "generate")
    panel.get_by_text("on top of a wooden floor", exact=True).last.click()  # the toy striped ball, not the teapot
    expect(panel.locator('#generate-subject a[download="02.png"]')).to_have_count(1)  # the example is loaded
    fill_tiny(panel, TOY)
    run(panel, "Generate", "#generate-gallery", 4)


def finetune_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Fine-tune a subject", "finetune")
    upload(panel, "finetune-photos", *BALL)
    fill(panel, {"New subject's name": "striped_ball", "Subject class word": "ball", "Prompt": "in the snow"},
         exact=True)
    fill(panel, {"Fine-tuning steps": 40})
    panel.get_by_role("button", name="Fine-tune").click()
    expect(panel.locator("#finetune-status")).to_contain_text("Fine-tuned striped_ball", timeout=TIMEOUT_MS)
    fill_tiny(panel, TOY)
    run(panel, "Generate", "#finetune-gallery", 4)


def control_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Structure control", "control")
    upload(panel, "control-subject", *PHOTOS["dog"])
    upload(panel, "control-image", PHOTOS["cat"][0])
    fill(panel, {"Subject class word": "dog", "Prompt": "on the grass"}, exact=True)
    fill_tiny(panel, SMALL)
    run(panel, "Preview edges", "#control-map", 1)
    run(panel, "Generate", "#control-gallery")


def stylize_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Style transfer", "stylize")
    upload(panel, "stylize-style", PHOTOS["cat"][0])
    upload(panel, "stylize-structure", PHOTOS["teapot"][0])
    fill(panel, {"What the style image shows": "cat", "Prompt": "on a marble table"}, exact=True)
    fill(panel, {"What to draw": "teapot"})
    fill_tiny(panel, SMALL)
    run(panel, "Generate", "#stylize-gallery")


def edit_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Editing", "edit")
    upload(panel, "edit-subject", *BALL)
    fill(panel, {"Subject class word": "ball", "Prompt of the source image": "on the beach"}, exact=True)
    fill(panel, {"What the subject replaces": "star"})
    fill_tiny(panel, {"Steps": 25})
    run(panel, "Edit", "#edit-mask", 1)


def interpolate_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Interpolation", "interpolate")
    upload(panel, "interpolate-a", *BALL)
    upload(panel, "interpolate-b", *toy_example_photos(ctx, "00-star"))
    fill(panel, {"Class word of A": "ball", "Class word of B": "star", "Prompt": "on the beach"}, exact=True)
    fill(panel, {"Class word in the prompt": "ball", "Frames": 4})
    fill_tiny(panel, TOY)
    run(panel, "Interpolate", "#interpolate-gallery", 4)


def multi_subject_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Multi-subject", "multi_subject")
    fill(panel, {"Prompt: each subject as [name] before its class word": "a [ball] ball and a [star] star on the beach"})
    for number, (name, photos) in enumerate((("ball", BALL), ("star", toy_example_photos(ctx, "00-star"))), start=1):
        fill(panel, {f"Subject {number}: name": name, f"Subject {number}: class word": name})
        upload(panel, f"multi-subject-{number}", *photos)
    fill_tiny(panel, TOY)
    run(panel, "Generate", "#multi-subject-gallery", 4)


def api_scene(page: Page, ctx: AppContext) -> None:
    """The API page ("Use via API"): every endpoint with its Python call."""
    page.locator("button.show-api").click()
    page.get_by_text("API name: /generate").first.wait_for()


SCENES: dict[str, Callable[[Page, AppContext], None]] = {  # file name: scene
    "generate": generate_scene, "finetune": finetune_scene, "control": control_scene,
    "stylize": stylize_scene, "edit": edit_scene, "interpolate": interpolate_scene,
    "multi_subject": multi_subject_scene, "api": api_scene,
}
FIXTURE_SCENES = ("control", "stylize")  # need a ControlNet: the fixture's


def toy_example_photos(ctx: AppContext, prefix: str) -> list[Path]:
    """Reference photos of a ToyBench example subject, as the app rendered them when it started."""
    folder = next((ctx.out_dir / "toyworld_examples").glob(f"{prefix}*"))
    return sorted(folder.glob("*.png"))


def make_context(tmp: Path, toy: bool) -> AppContext:
    # relative model paths, so that the header in the pictures names no folder of this machine
    out = tmp / ("toy" if toy else "fixture")
    if toy:
        model = os.path.relpath(TOY_MODEL)
        pipe = BlipDiffusionPipeline.from_pretrained(model)
        return AppContext(pipe, Limits(), out / "out", ASSETS / "dreambench", None, model=model,
                          subjects_dir=out / "subjects")
    model = os.path.relpath(FIXTURE_MODEL)
    pipe = BlipDiffusionPipeline.from_pretrained(model, qformer_tokenizer=QFORMER_TOKENIZER)
    control = BlipDiffusionControlNetPipeline.from_base(pipe, load_controlnets(CONTROLNET_MODEL, None))
    return AppContext(pipe, Limits(), out / "out", ASSETS / "dreambench", control, model=model,
                      qformer_tokenizer=str(QFORMER_TOKENIZER), subjects_dir=out / "subjects")


def main(names: list[str]) -> int:
    names = names or list(SCENES)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = open_browser(playwright, Path(tmp) / "profile")
        for toy in (True, False):
            group = [name for name in names if (name not in FIXTURE_SCENES) == toy]
            if not group:
                continue
            ctx = make_context(Path(tmp), toy)
            app, url = start_app(ctx)
            for name in group:
                page = open_app(browser, url)
                SCENES[name](page, ctx)
                page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
                print(OUT / f"{name}.png")
                page.close()
            app.close()
        browser.close()
    return 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
