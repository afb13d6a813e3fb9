"""Style transfer: the look of a style image (encoded as a subject) on the canny edges of another."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.outputs import request_folder, save_images, save_map
from blip_diffusion.app.sampling import fit_long_side, read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_image, read_subject
from blip_diffusion.app.widgets import STEP_PROGRESS, canny_inputs, image_file, image_outputs, subject_files
from blip_diffusion.pipelines.stylize import stylize
from blip_diffusion.utils.images import load_image


@user_errors
def generate(
    ctx: AppContext, style_files: Sequence[str] | None, style_class: str, structure_file: str | None,
    target_class: str, prompt: str, low: float, high: float, scale: float, negative_prompt: str,
    seed: float | None, steps: float | None, guidance: float, long_side: float | None,
    num_images: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[list[str], list[str], str]:
    """The target class in the style's look, on the structure's edges: gallery, PNG files, edge map."""
    structure = load_image(read_image(structure_file, ctx.limits, "structure image"))
    width, height = fit_long_side(ctx.limits, structure.size, long_side, ctx.pipe.vae_scale_factor)
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height, num_images)
    result = stylize(
        ctx.control_pipe, read_subject(style_files, ctx.limits), style_class.strip() or None, structure,
        [prompt] * sampling.num_images, target_class=target_class.strip() or None, low_threshold=low,
        high_threshold=high, controlnet_conditioning_scale=scale, generator=sampling.generators(),
        **sampling.call_kwargs(),
    )
    settings = {"prompt": prompt, "style": [Path(f).name for f in style_files],
                "style_class": style_class.strip(), "structure": Path(structure_file).name,
                "target_class": target_class.strip(), "canny": [low, high], "control_scale": scale,
                **sampling.settings(ctx.pipe)}
    folder = request_folder(ctx.out_dir)
    paths = save_images(result.images, folder, settings, sampling.seeds)
    return paths, paths, save_map(result.edges, folder, "edges", settings)


def build(ctx: AppContext) -> None:
    with gr.Tab("Style transfer", id="stylize", elem_id="tab-stylize"):
        with gr.Row():
            with gr.Column():
                style_files = subject_files(ctx.limits, label="Style", elem_id="stylize-style")
                style_class = gr.Textbox(label="What the style image shows", placeholder="flower")
                structure_file = image_file("Structure image (its canny edges fix the layout)",
                                            elem_id="stylize-structure")
                target_class = gr.Textbox(label="What to draw (default: the style's class word)",
                                          placeholder="teapot")
                prompt = gr.Textbox(label="Prompt", placeholder="on a marble table")
                low, high = canny_inputs()
                scale = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="ControlNet scale")
                sampling = sampling_inputs(ctx.limits, ctx.pipe, long_side=True)
            with gr.Column():
                run = gr.Button("Generate", variant="primary")
                edges = gr.Image(label="Edges of the structure image", type="filepath", interactive=False,
                                 elem_id="stylize-edges")
                gallery, downloads = image_outputs("stylize")
        inputs = [style_files, style_class, structure_file, target_class, prompt, low, high, scale,
                  *sampling.components()]
        connect(run.click, generate, ctx, inputs, [gallery, downloads, edges], "stylize")
