"""The Gradio app: a header, one tab per feature, the queue; wiring only, the tabs call the pipelines."""

from __future__ import annotations

from types import ModuleType

import gradio as gr

from blip_diffusion.app.context import AppContext
from blip_diffusion.app.tabs import control, edit, finetune, generate, interpolate, multi_subject, stylize

# System fonts: the default theme would fetch Google Fonts, and the server works offline.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])
CACHE_CLEANUP = (3600, 86400)  # every hour, Gradio deletes its copies of files older than a day


def build_app(ctx: AppContext) -> gr.Blocks:
    """The app for ``ctx.pipe``; pipeline calls wait their turn in one queue of ``ctx.limits.queue_size``."""
    with gr.Blocks(title="BLIP-Diffusion", analytics_enabled=False, delete_cache=CACHE_CLEANUP) as app:
        gr.Markdown(_header(ctx))
        with gr.Tabs():
            for tab in feature_tabs(ctx):
                tab.build(ctx)
    return app.queue(max_size=ctx.limits.queue_size, default_concurrency_limit=1)


def feature_tabs(ctx: AppContext) -> list[ModuleType]:
    """The tab modules this server can offer, in display order: structure control and style transfer
    need a ControlNet, fine-tuning needs the model's source and a folder for the subjects."""
    control_tabs = [control, stylize] if ctx.control_pipe is not None else []
    finetune_tab = [finetune] if ctx.subjects_dir is not None and ctx.model else []
    return [generate, *finetune_tab, *control_tabs, edit, interpolate, multi_subject]


def launch(app: gr.Blocks, ctx: AppContext, host: str, port: int) -> str:
    """Start serving ``app`` on ``host:port`` in the background and return its URL.

    Gradio refuses uploads over the size cap itself, in the browser and on the server.
    """
    app.launch(
        server_name=host, server_port=port, max_file_size=ctx.limits.max_upload_bytes, theme=THEME,
        ssr_mode=False, show_error=False, prevent_thread_lock=True, quiet=True,
    )
    return app.local_url


def _header(ctx: AppContext) -> str:
    limits = ctx.limits
    return (
        f"# BLIP-Diffusion\nModel: `{ctx.pipe.model_name}`. Limits on this server: files up to "
        f"{limits.max_upload_mb:g} MB and {limits.max_image_pixels} pixels, "
        f"{limits.max_subject_photos} photos per subject, {limits.max_images} images, "
        f"{limits.max_steps} steps and {limits.max_side} pixels a side per request. Requests run one "
        "at a time; waiting ones show their place in the queue. Call it from code with `gradio_client` "
        "(\"Use via API\" at the bottom of the page)."
    )
