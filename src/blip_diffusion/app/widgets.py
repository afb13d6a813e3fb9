"""Upload components shared by the tabs."""

from __future__ import annotations

import gradio as gr

from blip_diffusion.app.limits import Limits
from blip_diffusion.app.uploads import SUBJECT_FILE_SUFFIX

IMAGE_TYPES = ["image"]
GALLERY_BUTTONS = ["download", "download_all", "fullscreen"]
# A handler parameter with this default receives Gradio's progress tracker, which follows the
# tqdm bars that the pipelines (denoising steps) and the training loop draw.
STEP_PROGRESS = gr.Progress(track_tqdm=True)


def subject_files(limits: Limits, label: str = "Subject", elem_id: str | None = None,
                  subject_file: bool = True) -> gr.File:
    """1 to ``limits.max_subject_photos`` photos of one subject, or (``subject_file``) one subject file."""
    also = ", or one subject file" if subject_file else ""
    return gr.File(label=f"{label}: 1-{limits.max_subject_photos} photos{also}", file_count="multiple",
                   file_types=IMAGE_TYPES + ([SUBJECT_FILE_SUFFIX] if subject_file else []), elem_id=elem_id)


def image_file(label: str, elem_id: str | None = None) -> gr.File:
    """One image, uploaded as a file: the server checks its size and pixels before decoding it."""
    return gr.File(label=label, file_count="single", file_types=IMAGE_TYPES, elem_id=elem_id)


def image_outputs(tab_id: str) -> tuple[gr.Gallery, gr.File]:
    """A gallery of the generated images and the list of their PNG files (settings in their metadata)."""
    gallery = gr.Gallery(label="Images", format="png", columns=2, elem_id=f"{tab_id}-gallery",
                         buttons=GALLERY_BUTTONS, object_fit="contain")  # wide or tall outputs shown whole
    return gallery, gr.File(label="PNG files", file_count="multiple", elem_id=f"{tab_id}-files")


def canny_inputs() -> tuple[gr.Slider, gr.Slider]:
    """OpenCV's hysteresis thresholds: lower values keep more edges."""
    with gr.Row():
        low = gr.Slider(0, 500, value=100, step=1, label="Canny low threshold")
        high = gr.Slider(0, 500, value=200, step=1, label="Canny high threshold")
    return low, high
