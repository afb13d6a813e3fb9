"""Starting the app on a free localhost port and driving it in headless Chromium (tests, screenshots)."""

from __future__ import annotations

import socket
from pathlib import Path

from blip_diffusion.app.context import AppContext

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: nothing is downloaded at run time
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCALHOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def start_app(ctx: AppContext):
    """The app for ``ctx``, serving in the background on a free localhost port."""
    from blip_diffusion.app.gradio_app import build_app, launch  # imports gradio

    app = build_app(ctx)
    return app, launch(app, ctx, LOCALHOST, free_port())


def open_browser(playwright, user_data_dir: Path):
    """Headless Chromium with a fresh profile that accepts downloads."""
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        accept_downloads=True, viewport={"width": 1280, "height": 900},
    )


def open_app(context, url: str):
    """A new page with the app loaded."""
    page = context.new_page()
    page.goto(url)
    page.wait_for_load_state("networkidle")
    return page


def fill_generate(page, photo: Path, prompt: str, seed: int, side: int = 64, steps: int = 2) -> None:
    """Fill the zero-shot tab: one subject photo, class 'dog', tiny settings."""
    page.locator("#generate-subject input[type=file]").set_input_files(str(photo))
    page.locator(f'#generate-subject a[download="{photo.name}"]').wait_for()
    page.get_by_label("Subject class word").fill("dog")
    page.get_by_label("Prompt", exact=True).fill(prompt)
    page.get_by_label("Seed (image i: seed + i)").fill(str(seed))
    page.get_by_label("Steps", exact=False).fill(str(steps))
    page.get_by_label("Width", exact=False).fill(str(side))
    page.get_by_label("Height", exact=False).fill(str(side))
