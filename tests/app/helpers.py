"""Starting the app on a free localhost port and driving it in headless Chromium (tests, screenshots)."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from blip_diffusion.app.context import AppContext

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package: nothing is downloaded at run time
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LOCALHOST = "127.0.0.1"
TINY = {"Steps": 2, "Width": 64, "Height": 64, "Long side": 64}  # label prefix -> value


def api_client(url: str):
    """A ``gradio_client.Client`` for the app at ``url`` that waits out a busy machine: its default read
    timeout is seconds, and a 2-core machine shared with another job answers slower than that."""
    from gradio_client import Client  # imports gradio

    return Client(url, verbose=False, httpx_kwargs={"timeout": 300})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def start_app(ctx: AppContext):
    """The app for ``ctx``, serving in the background on a free localhost port: (gr.Blocks, url)."""
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


def open_tab(page, name: str, tab_id: str):
    """Select the tab called ``name``; returns a locator of its panel (labels repeat across tabs)."""
    page.get_by_role("tab", name=name).click()
    panel = page.locator(f"#tab-{tab_id}")
    panel.wait_for()
    return panel


def upload(panel, elem_id: str, *paths: Path) -> None:
    """Put files into the upload component ``elem_id`` and wait until they are listed."""
    panel.locator(f"#{elem_id} input[type=file]").set_input_files([str(p) for p in paths])
    for path in paths:
        panel.locator(f'#{elem_id} a[download="{path.name}"]').wait_for()


def field(panel, label: str, exact: bool = False):
    """The field whose label is ``label`` (or, unless ``exact``, starts with it)."""
    pattern = re.compile(r"^\s*" + re.sub(r"([\\^$.*+?()\[\]{}|])", r"\\\1", label))  # no "\ ": JS rejects it
    return panel.get_by_label(label if exact else pattern, exact=exact or None)


def fill(panel, values: dict[str, object], exact: bool = False) -> None:
    """Type each value into the field whose label is (or, unless ``exact``, starts with) its key."""
    for label, value in values.items():
        field(panel, label, exact).fill(str(value))


def fill_tiny(panel, values: dict[str, object] = TINY) -> None:
    """Sampling settings (by default the tests' 2 steps at 64 px) on whichever of the fields the tab has."""
    for label, value in values.items():
        if field(panel, label).count():
            field(panel, label).fill(str(value))


def fill_generate(page, photo: Path, prompt: str, seed: int) -> None:
    """Fill the zero-shot tab: one subject photo, class 'dog', tiny settings."""
    panel = open_tab(page, "Zero-shot generation", "generate")
    upload(panel, "generate-subject", photo)
    fill(panel, {"Subject class word": "dog", "Prompt": prompt, "Seed (image i: seed + i)": seed}, exact=True)
    fill_tiny(panel)
