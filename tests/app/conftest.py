"""One app server for the whole folder (the fixture models, small limits) and one headless Chromium."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import ASSETS, FIXTURE_MODEL, MODELS, QFORMER_TOKENIZER

DOG = ASSETS / "dreambench" / "dog" / "00.jpg"  # 53 KB, 512x512
CAT = ASSETS / "dreambench" / "cat" / "00.jpg"
CONTROLNET_MODEL = MODELS / "blipdiffusion-controlnet-small"  # its UNet is the fixture model's
UPLOAD_MB = 0.2
IMAGE_PIXELS = 1000 * 1000


@pytest.fixture(scope="session")
def server(pipe, tmp_path_factory):
    """The app with every tab on a free localhost port: url, limits, its context (pipelines, folders)."""
    pytest.importorskip("gradio")
    from blip_diffusion.app.context import AppContext
    from blip_diffusion.app.limits import Limits
    from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline, load_controlnets
    from tests.app.helpers import start_app

    limits = Limits(max_upload_mb=UPLOAD_MB, max_image_pixels=IMAGE_PIXELS, max_images=3, max_steps=10,
                    max_side=128, max_frames=4, max_finetune_steps=4)
    control_pipe = BlipDiffusionControlNetPipeline.from_base(pipe, load_controlnets(CONTROLNET_MODEL, None))
    folder = tmp_path_factory.mktemp("app")
    ctx = AppContext(pipe, limits, folder / "out", ASSETS / "dreambench", control_pipe,
                     model=str(FIXTURE_MODEL), qformer_tokenizer=str(QFORMER_TOKENIZER),
                     subjects_dir=folder / "subjects")
    app, url = start_app(ctx)
    yield SimpleNamespace(url=url, limits=limits, ctx=ctx)
    app.close()


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Headless Chromium (Debian's package) driven by playwright; skipped where either is absent."""
    from tests.app.helpers import CHROMIUM, open_browser

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        context = open_browser(playwright, tmp_path_factory.mktemp("chromium_profile"))
        yield context
        context.close()


@pytest.fixture
def page(browser, server):
    from tests.app.helpers import open_app

    page = open_app(browser, server.url)
    yield page
    page.close()
