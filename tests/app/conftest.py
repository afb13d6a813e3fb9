"""One app server for the whole folder (the fixture model, small limits) and one headless Chromium."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests.conftest import ASSETS

DOG = ASSETS / "dreambench" / "dog" / "00.jpg"  # 53 KB, 512x512
UPLOAD_MB = 0.2
IMAGE_PIXELS = 1000 * 1000


@pytest.fixture(scope="session")
def server(pipe, tmp_path_factory):
    """The app on a free localhost port: url, limits and output folder."""
    pytest.importorskip("gradio")
    from blip_diffusion.app.context import AppContext
    from blip_diffusion.app.limits import Limits
    from tests.app.helpers import start_app

    limits = Limits(max_upload_mb=UPLOAD_MB, max_image_pixels=IMAGE_PIXELS, max_images=3, max_steps=10,
                    max_side=128)
    ctx = AppContext(pipe, limits, tmp_path_factory.mktemp("app_out"), ASSETS / "dreambench")
    app, url = start_app(ctx)
    yield SimpleNamespace(url=url, limits=limits, out_dir=ctx.out_dir)
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
