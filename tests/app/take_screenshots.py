"""Screenshots of every tab for docs/webui.md, taken in headless Chromium with the bundled toy model
and its canny ControlNet, drawing ToyBench subjects (the striped ball is a held-out one).

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
from tests.app.helpers import fill, fill_tiny, open_app, open_browser, open_tab, start_app, upload
from tests.conftest import ASSETS

OUT = ASSETS / "screenshots"
TOY_MODEL = ASSETS / "models" / "toy" / "blip-diffusion"
BALL = sorted((ASSETS / "toyworld" / "demo-subject").glob("*.png"))
TOY = {"Steps": 25, "Width": 64, "Height": 64, "Long side": 64, "Images": 4}
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
    upload(panel, "control-subject", *BALL)
    upload(panel, "control-image", toy_example_photos(ctx, "02-box")[0])
    fill(panel, {"Subject class word": "ball", "Prompt": "on the beach"}, exact=True)
    fill_tiny(panel, TOY)
    run(panel, "Preview edges", "#control-map", 1)
    run(panel, "Generate", "#control-gallery", 4)


def stylize_scene(page: Page, ctx: AppContext) -> None:
    panel = open_tab(page, "Style transfer", "stylize")
    upload(panel, "stylize-style", BALL[0])
    upload(panel, "stylize-structure", toy_example_photos(ctx, "00-star")[0])
    fill(panel, {"What the style image shows": "ball", "Prompt": "on the beach"}, exact=True)
    fill(panel, {"What to draw": "star"})
    fill_tiny(panel, TOY)
    run(panel, "Generate", "#stylize-gallery", 4)


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
    fill(panel, {"Prompt: each subject as [name] before its class word": "a [star] star and a [ball] ball on the beach"})
    subjects = (("star", toy_example_photos(ctx, "00-star"), "left"), ("ball", BALL, "right"))
    for number, (name, photos, region) in enumerate(subjects, start=1):
        fill(panel, {f"Subject {number}: name": name, f"Subject {number}: class word": name})
        upload(panel, f"multi-subject-{number}", *photos)
        panel.get_by_label(f"Subject {number}: region").click()
        page.get_by_role("option", name=region, exact=True).click()
    fill_tiny(panel, TOY | {"Width": 128})
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


def toy_example_photos(ctx: AppContext, prefix: str) -> list[Path]:
    """Reference photos of a ToyBench example subject, as the app rendered them when it started."""
    folder = next((ctx.out_dir / "toyworld_examples").glob(f"{prefix}*"))
    return sorted(folder.glob("*.png"))


def main(names: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        model = os.path.relpath(TOY_MODEL)  # relative: the header in the pictures names no folder of this machine
        pipe = BlipDiffusionPipeline.from_pretrained(model)
        control = BlipDiffusionControlNetPipeline.from_base(pipe, load_controlnets(TOY_MODEL, None))
        ctx = AppContext(pipe, Limits(), Path(tmp) / "out", ASSETS / "dreambench", control, model=model,
                         subjects_dir=Path(tmp) / "subjects")
        app, url = start_app(ctx)
        browser = open_browser(playwright, Path(tmp) / "profile")
        for name in names or SCENES:
            page = open_app(browser, url)
            SCENES[name](page, ctx)
            page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)
            print(OUT / f"{name}.png")
            page.close()
        browser.close()
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
