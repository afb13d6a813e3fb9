"""Zero-shot generation: photos of a subject (or its subject file) + a prompt -> images.

Also encodes the photos into a subject file to download and reuse, here or with the command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.examples import dreambench_examples, toyworld_examples
from blip_diffusion.app.outputs import request_folder, save_images
from blip_diffusion.app.sampling import read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_photos, read_subject
from blip_diffusion.app.widgets import STEP_PROGRESS, image_outputs, subject_files


@user_errors
def generate(
    ctx: AppContext, files: Sequence[str] | None, subject_class: str, target_class: str, prompt: str,
    negative_prompt: str, seed: float | None, steps: float | None, guidance: float, width: float | None,
    height: float | None, num_images: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[list[str], list[str]]:
    """Images of the subject, image i from seed + i: the gallery and the PNG files (settings in metadata)."""
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height, num_images)
    subject = read_subject(files, ctx.limits)
    source, target = subject_class.strip() or None, target_class.strip() or None
    images = ctx.pipe(
        prompt=[prompt] * sampling.num_images, reference_image=subject, source_subject_category=source,
        target_subject_category=target, generator=sampling.generators(), **sampling.call_kwargs(),
    ).images
    settings = {"prompt": prompt, "subject": [Path(f).name for f in files], "subject_class": source,
                "target_class": target, **sampling.settings(ctx.pipe)}
    paths = save_images(images, request_folder(ctx.out_dir), settings, sampling.seeds)
    return paths, paths


@user_errors
def encode(ctx: AppContext, files: Sequence[str] | None, subject_class: str) -> str:
    """The subject file (.safetensors) of the uploaded photos."""
    subject = ctx.pipe.encode_subject(read_photos(files, ctx.limits), subject_class)
    return str(subject.save(request_folder(ctx.out_dir) / "subject.safetensors"))


def build(ctx: AppContext) -> None:
    with gr.Tab("Zero-shot generation", id="generate", elem_id="tab-generate"):
        with gr.Row():
            with gr.Column():
                files = subject_files(ctx.limits, elem_id="generate-subject")
                subject_class = gr.Textbox(label="Subject class word", placeholder="dog")
                target_class = gr.Textbox(label="Target class word (optional)", placeholder="tiger")
                prompt = gr.Textbox(label="Prompt", placeholder="on the beach")
                sampling = sampling_inputs(ctx.limits, ctx.pipe)
            with gr.Column():
                run = gr.Button("Generate", variant="primary")
                gallery, downloads = image_outputs("generate")
                encode_button = gr.Button("Encode subject file")
                subject_file = gr.File(label="Subject file", elem_id="generate-subject-file")
        inputs = [files, subject_class, target_class, prompt, *sampling.components()]
        connect(run.click, generate, ctx, inputs, [gallery, downloads], "generate")
        connect(encode_button.click, encode, ctx, [files, subject_class], subject_file, "encode_subject")
        if ctx.examples_dir is not None:
            gr.Examples(dreambench_examples(ctx.examples_dir), [files, subject_class, prompt],
                        label="DreamBench examples")
        gr.Examples(toyworld_examples(ctx.out_dir / "toyworld_examples"), [files, subject_class, prompt],
                    label="Toy world examples (ToyBench subjects)")
