"""Subject editing (the paper's Sec. 4.3): the subject put into a generated image or into a real photo.

Prompt-to-prompt keeps the source's layout; the local blend keeps everything outside the source
class word's attention, and its mask is shown. A real photo is inverted with DDIM first, and its
reconstruction is shown beside the edit.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import torch

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.outputs import request_folder, save_map
from blip_diffusion.app.sampling import read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_image, read_subject
from blip_diffusion.app.widgets import STEP_PROGRESS, image_file, subject_files
from blip_diffusion.pipelines.attention_control import AttentionEditConfig
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.editing import BlipDiffusionEditPipeline
from blip_diffusion.utils.image_output import mask_image

DEFAULTS = AttentionEditConfig()
DOWNSAMPLES = [1, 2, 4, 8]


def default_downsample(pipe: BlipDiffusionPipeline) -> int:
    """The original's 4 (16x16 maps at 512x512) where the UNet has maps that small: a UNet with
    n resolution levels has attention maps down to 2 ** (n - 1) times smaller than its latents."""
    return min(DEFAULTS.blend_downsample, 2 ** (len(pipe.unet.config.block_out_channels) - 1))


@user_errors
def edit(
    ctx: AppContext, files: Sequence[str] | None, subject_class: str, target_class: str, source_class: str,
    prompt: str, target_prompt: str, image: str | None, null_text: bool, cross_replace: float,
    self_replace: float, self_downsample: int, blend: bool, blend_threshold: float, blend_downsample: int,
    negative_prompt: str, seed: float | None,
    steps: float | None, guidance: float, width: float | None, height: float | None,
    progress: gr.Progress = STEP_PROGRESS,
) -> tuple[str, str, str | None, list[str]]:
    """The source (or the real image's reconstruction), the edit, the blend mask and their PNG files."""
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height)
    real = read_image(image, ctx.limits, "image to edit") if image else None
    attention = AttentionEditConfig(cross_replace, self_replace, int(self_downsample),
                                    blend_threshold if blend else None, int(blend_downsample))
    output = BlipDiffusionEditPipeline.from_pipeline(ctx.pipe).edit(
        prompt, read_subject(files, ctx.limits), source_subject_category=subject_class.strip() or None,
        target_subject_category=target_class.strip() or None, source_class=source_class.strip() or None,
        target_prompt=target_prompt.strip() or None, image=real, attention=attention, null_text=null_text,
        generator=torch.Generator("cpu").manual_seed(sampling.seed), **sampling.call_kwargs(),
    )
    settings = {"prompt": prompt, "target_prompt": target_prompt, "subject": [Path(f).name for f in files],
                "subject_class": subject_class, "target_class": target_class, "source_class": source_class,
                "image": real.name if real else None, "null_text": null_text, "seed": sampling.seed,
                "attention": vars(attention), **sampling.settings(ctx.pipe)}
    folder, edited = request_folder(ctx.out_dir), output.edited_images[0]
    source = save_map(output.source_images[0], folder, "reconstruction" if real else "source", settings)
    paths = [source, save_map(edited, folder, "edit", settings)]
    if output.mask is not None:
        paths.append(save_map(mask_image(output.mask, edited.size), folder, "mask", settings))
    return paths[0], paths[1], paths[2] if len(paths) > 2 else None, paths


def build(ctx: AppContext) -> None:
    downsample = default_downsample(ctx.pipe)
    with gr.Tab("Editing", id="edit", elem_id="tab-edit"):
        with gr.Row():
            with gr.Column():
                files = subject_files(ctx.limits, elem_id="edit-subject")
                subject_class = gr.Textbox(label="Subject class word", placeholder="dog")
                with gr.Row():
                    source_class = gr.Textbox(label="What the subject replaces (default: its class word)")
                    target_class = gr.Textbox(label="Class word of the edit (default: the subject's)")
                prompt = gr.Textbox(label="Prompt of the source image", placeholder="sitting on a sofa")
                target_prompt = gr.Textbox(label="Prompt of the edit (default: the same)")
                image = image_file("Real image to edit (optional: else a generated source)",
                                   elem_id="edit-image")
                null_text = gr.Checkbox(label="Null-text inversion (a real image: more faithful, slower)")
                with gr.Accordion("Attention control", open=False):
                    cross_replace = gr.Slider(0, 1, value=DEFAULTS.cross_replace_fraction, step=0.05,
                                              label="Cross-attention replaced for this fraction of the steps")
                    self_replace = gr.Slider(0, 1, value=DEFAULTS.self_replace_fraction, step=0.05,
                                             label="Self-attention replaced for this fraction of the steps")
                    self_downsample = gr.Dropdown(DOWNSAMPLES, value=downsample,
                                                  label="... in layers this many times smaller")
                    blend = gr.Checkbox(value=True, label="Local blend: change only where the subject is")
                    blend_threshold = gr.Slider(0, 1, value=DEFAULTS.blend_threshold, step=0.05,
                                                label="Blend threshold")
                    blend_downsample = gr.Dropdown(DOWNSAMPLES, value=downsample,
                                                   label="Blend mask from maps this many times smaller")
                sampling = sampling_inputs(ctx.limits, ctx.pipe, num_images=False)
            with gr.Column():
                run = gr.Button("Edit", variant="primary")
                with gr.Row():
                    source = gr.Image(label="Source / reconstruction", type="filepath", interactive=False,
                                      elem_id="edit-source")
                    edited = gr.Image(label="Edit", type="filepath", interactive=False, elem_id="edit-result")
                mask = gr.Image(label="Blend mask (white: may change)", type="filepath", interactive=False,
                                elem_id="edit-mask")
                downloads = gr.File(label="PNG files", file_count="multiple", elem_id="edit-files")
        inputs = [files, subject_class, target_class, source_class, prompt, target_prompt, image, null_text,
                  cross_replace, self_replace, self_downsample, blend, blend_threshold, blend_downsample,
                  *sampling.components()]
        connect(run.click, edit, ctx, inputs, [source, edited, mask, downloads], "edit")
