"""Structure control: the subject drawn along a control map through ControlNet (the paper's Fig. 4).

The map is uploaded as is (edges, depth, pose, ... whatever the ControlNet was trained on) or
computed as the canny edges of a photo, which the "Preview edges" button shows first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr
from PIL import Image

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.outputs import request_folder, save_images, save_map
from blip_diffusion.app.sampling import fit_long_side, read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_image, read_subject
from blip_diffusion.app.widgets import STEP_PROGRESS, canny_inputs, image_file, image_outputs, subject_files
from blip_diffusion.pipelines.control_images import canny_edges
from blip_diffusion.utils.images import load_image

CANNY, AS_IS = "canny edges of the photo", "the image is the control map"


def control_map(ctx: AppContext, file: str | None, mode: str, low: float, high: float) -> Image.Image:
    image = load_image(read_image(file, ctx.limits, "control image"))
    return canny_edges(image, low, high) if mode == CANNY else image


@user_errors
def preview(ctx: AppContext, file: str | None, low: float, high: float) -> str:
    """The canny edges of the uploaded photo (a PNG), as the ControlNet will see them."""
    return save_map(control_map(ctx, file, CANNY, low, high), request_folder(ctx.out_dir), "edges", {
        "canny": [low, high]})


@user_errors
def generate(
    ctx: AppContext, files: Sequence[str] | None, subject_class: str, prompt: str, control_file: str | None,
    mode: str, low: float, high: float, scale: float, negative_prompt: str, seed: float | None,
    steps: float | None, guidance: float, long_side: float | None, num_images: float | None,
    progress: gr.Progress = STEP_PROGRESS,
) -> tuple[list[str], list[str], str]:
    """Images of the subject following the control map: the gallery, the PNG files and the map used."""
    control = control_map(ctx, control_file, mode, low, high)
    width, height = fit_long_side(ctx.limits, control.size, long_side, ctx.pipe.vae_scale_factor)
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height, num_images)
    images = ctx.control_pipe(
        [prompt] * sampling.num_images, read_subject(files, ctx.limits), control,
        source_subject_category=subject_class.strip() or None, controlnet_conditioning_scale=scale,
        generator=sampling.generators(), **sampling.call_kwargs(),
    ).images
    settings = {"prompt": prompt, "subject": [Path(f).name for f in files],
                "subject_class": subject_class.strip(), "control_image": Path(control_file).name,
                "control_mode": mode, "canny": [low, high], "control_scale": scale,
                **sampling.settings(ctx.pipe)}
    folder = request_folder(ctx.out_dir)
    paths = save_images(images, folder, settings, sampling.seeds)
    return paths, paths, save_map(control, folder, "control", settings)


def build(ctx: AppContext) -> None:
    with gr.Tab("Structure control", id="control", elem_id="tab-control"):
        with gr.Row():
            with gr.Column():
                files = subject_files(ctx.limits, elem_id="control-subject")
                subject_class = gr.Textbox(label="Subject class word", placeholder="dog")
                prompt = gr.Textbox(label="Prompt", placeholder="on the beach")
                control_file = image_file("Control image", elem_id="control-image")
                mode = gr.Radio([CANNY, AS_IS], value=CANNY, label="Control map")
                low, high = canny_inputs()
                scale = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="ControlNet scale")
                sampling = sampling_inputs(ctx.limits, ctx.pipe, long_side=True)
            with gr.Column():
                preview_button = gr.Button("Preview edges")
                run = gr.Button("Generate", variant="primary")
                control = gr.Image(label="Control map", type="filepath", interactive=False,
                                   elem_id="control-map")
                gallery, downloads = image_outputs("control")
        connect(preview_button.click, preview, ctx, [control_file, low, high], control, "canny_edges",
                queue="canny")
        inputs = [files, subject_class, prompt, control_file, mode, low, high, scale, *sampling.components()]
        connect(run.click, generate, ctx, inputs, [gallery, downloads, control], "control")
