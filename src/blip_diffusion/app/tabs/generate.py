"""Zero-shot generation: photos of a subject (or its subject file) + a prompt -> images.

Also encodes the photos into a subject file to download and reuse, here or with the command line.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import gradio as gr
import torch

from blip_diffusion.app.context import PIPELINE_QUEUE, AppContext
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.limits import check_range, check_sampling, whole_number
from blip_diffusion.app.outputs import request_folder, save_images
from blip_diffusion.app.uploads import read_photos, read_subject

# Gradio passes its progress tracker to a parameter whose default is one; it follows the pipeline's tqdm bar.
STEP_PROGRESS = gr.Progress(track_tqdm=True)
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit seed
EXAMPLES = (  # (DreamBench subject folder, class word, prompt)
    ("dog", "dog", "on the beach"),
    ("cat", "cat", "in the snow"),
    ("teapot", "teapot", "on top of a wooden floor"),
)


@user_errors
def generate(
    ctx: AppContext, files: Sequence[str] | None, subject_class: str, target_class: str, prompt: str,
    negative_prompt: str, seed: float | None, steps: float | None, guidance: float, width: float | None,
    height: float | None, num_images: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[list[str], list[str]]:
    """Images of the subject, image i from seed + i: the gallery and the PNG files (settings in metadata)."""
    numbers = {"seed": seed, "steps": steps, "width": width, "height": height, "number of images": num_images}
    seed, steps, width, height, num_images = (whole_number(label, value) for label, value in numbers.items())
    check_sampling(ctx.limits, steps, width, height, num_images)
    check_range("seed", seed, 0, MAX_SEED - num_images)
    subject = read_subject(files, ctx.limits)
    source, target = subject_class.strip() or None, target_class.strip() or None
    seeds = [seed + i for i in range(num_images)]
    images = ctx.pipe(
        prompt=[prompt] * num_images, reference_image=subject, source_subject_category=source,
        target_subject_category=target, guidance_scale=guidance, num_inference_steps=steps, height=height,
        width=width, negative_prompt=negative_prompt,
        generator=[torch.Generator("cpu").manual_seed(s) for s in seeds],
    ).images
    settings = {
        "prompt": prompt, "negative_prompt": negative_prompt, "subject": [Path(f).name for f in files],
        "subject_class": source, "target_class": target, "model": str(ctx.pipe.model_name), "steps": steps,
        "guidance": guidance, "size": f"{width}x{height}", "scheduler": type(ctx.pipe.scheduler).__name__,
        "dtype": str(ctx.pipe.unet.dtype).removeprefix("torch."),
    }
    paths = save_images(images, ctx.out_dir, settings, seeds)
    return paths, paths


@user_errors
def encode(ctx: AppContext, files: Sequence[str] | None, subject_class: str) -> str:
    """The subject file (.safetensors) of the uploaded photos."""
    subject = ctx.pipe.encode_subject(read_photos(files, ctx.limits), subject_class)
    return str(subject.save(request_folder(ctx.out_dir) / "subject.safetensors"))


def build(ctx: AppContext) -> None:
    limits, multiple = ctx.limits, ctx.pipe.vae_scale_factor
    with gr.Tab("Zero-shot generation", id="generate"):
        with gr.Row():
            with gr.Column():
                files = gr.File(label=f"Subject: 1-{limits.max_subject_photos} photos, or one subject file",
                                file_count="multiple", file_types=["image", ".safetensors"],
                                elem_id="generate-subject")
                subject_class = gr.Textbox(label="Subject class word", placeholder="dog")
                target_class = gr.Textbox(label="Target class word (optional)", placeholder="tiger")
                prompt = gr.Textbox(label="Prompt", placeholder="on the beach")
                negative_prompt = gr.Textbox(label="Negative prompt")
                with gr.Row():
                    seed = gr.Number(label="Seed (image i: seed + i)", value=0, precision=0)
                    num_images = gr.Number(label=f"Images (1-{limits.max_images})", value=1, precision=0)
                    steps = gr.Number(label=f"Steps (1-{limits.max_steps})", value=min(50, limits.max_steps),
                                      precision=0)
                guidance = gr.Slider(1.0, 20.0, value=7.5, step=0.5, label="Guidance scale")
                with gr.Row():
                    width = _side("Width", limits.max_side, multiple)
                    height = _side("Height", limits.max_side, multiple)
            with gr.Column():
                run = gr.Button("Generate", variant="primary")
                gallery = gr.Gallery(label="Images", format="png", columns=2, elem_id="generate-gallery",
                                     buttons=["download", "download_all", "fullscreen"])
                downloads = gr.File(label="PNG files", file_count="multiple", elem_id="generate-files")
                encode_button = gr.Button("Encode subject file")
                subject_file = gr.File(label="Subject file", elem_id="generate-subject-file")
        inputs = [files, subject_class, target_class, prompt, negative_prompt, seed, steps, guidance, width,
                  height, num_images]
        run.click(functools.partial(generate, ctx), inputs, [gallery, downloads], api_name="generate",
                  api_description=generate.__doc__, concurrency_id=PIPELINE_QUEUE, concurrency_limit=1)
        encode_button.click(functools.partial(encode, ctx), [files, subject_class], subject_file,
                            api_name="encode_subject", api_description=encode.__doc__,
                            concurrency_id=PIPELINE_QUEUE, concurrency_limit=1)
        if ctx.examples_dir is not None:
            gr.Examples([[sorted(map(str, (ctx.examples_dir / name).glob("*.jpg")))[:3], word, text]
                         for name, word, text in EXAMPLES], [files, subject_class, prompt],
                        label="DreamBench examples")


def _side(label: str, max_side: int, multiple: int) -> gr.Number:
    return gr.Number(label=f"{label} (multiple of {multiple}, up to {max_side})", value=min(512, max_side),
                     precision=0)
