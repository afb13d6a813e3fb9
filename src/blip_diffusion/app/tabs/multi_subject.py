"""Several subjects in one prompt: "a [dog] dog and a [cat] cat", each optionally kept to a region."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.outputs import request_folder, save_images
from blip_diffusion.app.sampling import read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_subject
from blip_diffusion.app.widgets import STEP_PROGRESS, image_outputs, subject_files
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.multi_subject import NAMED_REGIONS, PromptSubject, generate_multi_subject

SLOTS = 3  # subjects the form offers
ANYWHERE = "anywhere"
EXAMPLE = ("a [dog] dog and a [cat] cat on the beach", (("dog", "dog", "left"), ("cat", "cat", "right")))


def read_subjects(ctx: AppContext, slots: Sequence[tuple]) -> dict[str, PromptSubject]:
    """The filled slots (name, files, class word, region) as named subjects; empty slots are skipped."""
    subjects = {}
    for number, (name, files, word, region) in enumerate(slots, start=1):
        name = (name or "").strip()
        if not name and not files:
            continue
        if not name:
            raise InputError(f"subject {number} has photos but no name: name it, and write [name] in "
                             "the prompt")
        if name in subjects:
            raise InputError(f"two subjects are named {name!r}: give each its own name")
        subjects[name] = PromptSubject(read_subject(files, ctx.limits), (word or "").strip() or None,
                                       None if region == ANYWHERE else region)
    if not subjects:
        raise InputError("no subjects: fill at least one (a name, its photos and class word)")
    return subjects


@user_errors
def generate(
    ctx: AppContext, prompt: str,
    name_1: str, files_1: Sequence[str] | None, class_1: str, region_1: str,
    name_2: str, files_2: Sequence[str] | None, class_2: str, region_2: str,
    name_3: str, files_3: Sequence[str] | None, class_3: str, region_3: str,
    negative_prompt: str, seed: float | None, steps: float | None, guidance: float, width: float | None,
    height: float | None, num_images: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[list[str], list[str]]:
    """Images of the prompt with each [name] drawn as that subject: the gallery and the PNG files."""
    slots = [(name_1, files_1, class_1, region_1), (name_2, files_2, class_2, region_2),
             (name_3, files_3, class_3, region_3)]
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height, num_images)
    subjects = read_subjects(ctx, slots)
    images = generate_multi_subject(ctx.pipe, prompt, subjects, num_images=sampling.num_images,
                                    generator=sampling.generators(), **sampling.call_kwargs()).images
    settings = {"prompt": prompt, **sampling.settings(ctx.pipe), "subjects": {
        name: {"photos": [Path(f).name for f in files], "class": word, "region": region}
        for name, files, word, region in slots if name and name.strip() in subjects}}
    paths = save_images(images, request_folder(ctx.out_dir), settings, sampling.seeds)
    return paths, paths


def build(ctx: AppContext) -> None:
    with gr.Tab("Multi-subject", id="multi_subject", elem_id="tab-multi_subject"):
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="Prompt: each subject as [name] before its class word",
                                    placeholder=EXAMPLE[0])
                slots = [_slot(ctx, number) for number in range(1, SLOTS + 1)]
                sampling = sampling_inputs(ctx.limits, ctx.pipe)
            with gr.Column():
                run = gr.Button("Generate", variant="primary")
                gallery, downloads = image_outputs("multi-subject")
        inputs = [prompt, *(component for slot in slots for component in slot), *sampling.components()]
        connect(run.click, generate, ctx, inputs, [gallery, downloads], "multi_subject")
        if ctx.examples_dir is not None:
            rows = [part for name, word, region in EXAMPLE[1] for part in (
                name, [str(ctx.examples_dir / name / "00.jpg")], word, region)]
            gr.Examples([[EXAMPLE[0], *rows]], [prompt, *slots[0], *slots[1]], label="DreamBench example")


def _slot(ctx: AppContext, number: int) -> tuple[gr.Textbox, gr.File, gr.Textbox, gr.Dropdown]:
    """One subject's inputs; every label names the subject (Gradio's examples table needs unique headers)."""
    with gr.Group():
        with gr.Row():
            name = gr.Textbox(label=f"Subject {number}: name")
            word = gr.Textbox(label=f"Subject {number}: class word")
            region = gr.Dropdown([ANYWHERE, *NAMED_REGIONS], value=ANYWHERE,
                                 label=f"Subject {number}: region")
        files = subject_files(ctx.limits, label=f"Subject {number}", elem_id=f"multi-subject-{number}")
    return name, files, word, region
