"""Fine-tune a subject (a LoRA of the UNet, the paper's Sec. 3.4) with live progress, then generate with it.

Subjects are folders under ``ctx.subjects_dir``, in the layout ``blip-diffusion finetune`` writes (its
LoRA subjects can be copied there). A subject's LoRA sits in the shared UNet only during the
request that uses it: requests run one at a time, and the next one gets the model as it was.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import gradio as gr

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.limits import check_range, whole_number
from blip_diffusion.app.outputs import request_folder, save_images
from blip_diffusion.app.sampling import MAX_SEED, read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_photos
from blip_diffusion.app.widgets import STEP_PROGRESS, image_outputs, subject_files
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.finetuned_subject import BLIP_METHOD, FINETUNE_FILE
from blip_diffusion.pipelines.subjects import SubjectEmbedding
from blip_diffusion.training.config import build as build_config
from blip_diffusion.training.finetune import FinetuneConfig, finetune

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
DEFAULT_STEPS = 40  # the fine-tuning command's default


def saved_subjects(folder: Path) -> list[str]:
    """Names of the finished LoRA subject folders under ``folder``."""
    return sorted(p.name for p in folder.iterdir() if _lora_subject(p)) if folder.is_dir() else []


def _lora_subject(folder: Path) -> bool:
    try:
        info = json.loads((folder / FINETUNE_FILE).read_text())
    except (OSError, ValueError):
        return False
    return info.get("method") == BLIP_METHOD and info.get("lora_rank", 0) > 0


@contextlib.contextmanager
def lora_subject(pipe: BlipDiffusionPipeline, folder: Path) -> Iterator[SubjectEmbedding]:
    """The subject of ``folder``, its LoRA in ``pipe``'s UNet until the block ends; then the LoRA
    layers are removed, which leaves the UNet's modules and weights as they were."""
    try:
        yield pipe.load_subject(folder)
    finally:
        if getattr(pipe.unet, "peft_config", None):
            pipe.unet.unload_lora()


@user_errors
def train(
    ctx: AppContext, name: str, files: Sequence[str] | None, subject_class: str, steps: float | None,
    seed: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[str, gr.Dropdown]:
    """Fine-tune a LoRA subject called `name` on the photos: a status line and the updated subject list."""
    name, word = name.strip(), subject_class.strip()
    if not NAME.fullmatch(name):
        raise InputError("subject name must be 1-64 letters, digits, _ or - (starting with a letter or "
                         f"digit), got {name!r}")
    folder = ctx.subjects_dir / name
    if folder.exists():
        raise InputError(f"a subject named {name!r} exists already: choose another name")
    if not word:
        raise InputError("subject class word is required (e.g. dog)")
    steps, seed = whole_number("steps", steps), whole_number("seed", seed)
    check_range("fine-tuning steps", steps, 1, ctx.limits.max_finetune_steps, "max_finetune_steps")
    check_range("seed", seed, 0, MAX_SEED)
    config = build_config(FinetuneConfig, {
        "model": ctx.model, "subject": [str(p) for p in read_photos(files, ctx.limits)],
        "subject_class": word, "out": str(folder), "qformer_tokenizer": ctx.qformer_tokenizer or "",
        "run": {"max_steps": steps, "seed": seed}})
    try:
        finetune(config)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # no half-trained subject under the name
        raise
    return (f"Fine-tuned **{name}** ({word}, {steps} steps): pick it below.",
            gr.Dropdown(choices=saved_subjects(ctx.subjects_dir), value=name))


@user_errors
def refresh(ctx: AppContext) -> gr.Dropdown:
    """The names of the saved fine-tuned subjects."""
    return gr.Dropdown(choices=saved_subjects(ctx.subjects_dir))


@user_errors
def generate(
    ctx: AppContext, name: str | None, target_class: str, prompt: str, negative_prompt: str,
    seed: float | None, steps: float | None, guidance: float, width: float | None, height: float | None,
    num_images: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[list[str], list[str]]:
    """Images of a saved fine-tuned subject, image i from seed + i: the gallery and the PNG files."""
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height, num_images)
    if not name or name not in saved_subjects(ctx.subjects_dir):
        raise InputError(f"no saved subject named {name!r}: fine-tune one, or pick one from the list")
    with lora_subject(ctx.pipe, ctx.subjects_dir / name) as subject:
        images = ctx.pipe([prompt] * sampling.num_images, subject,
                          target_subject_category=target_class.strip() or None,
                          generator=sampling.generators(), **sampling.call_kwargs()).images
    settings = {"prompt": prompt, "finetuned_subject": name, "target_class": target_class.strip() or None,
                **sampling.settings(ctx.pipe)}
    paths = save_images(images, request_folder(ctx.out_dir), settings, sampling.seeds)
    return paths, paths


def build(ctx: AppContext) -> None:
    limits = ctx.limits
    with gr.Tab("Fine-tune a subject", id="finetune", elem_id="tab-finetune") as tab:
        with gr.Row():
            with gr.Column():
                name = gr.Textbox(label="New subject's name", placeholder="my_dog")
                files = subject_files(limits, label="Photos", elem_id="finetune-photos", subject_file=False)
                subject_class = gr.Textbox(label="Subject class word", placeholder="dog")
                with gr.Row():
                    steps = gr.Number(label=f"Fine-tuning steps (1-{limits.max_finetune_steps})",
                                      value=min(DEFAULT_STEPS, limits.max_finetune_steps), precision=0)
                    seed = gr.Number(label="Seed", value=0, precision=0)
                train_button = gr.Button("Fine-tune", variant="primary")
                status = gr.Markdown(elem_id="finetune-status")
            with gr.Column():
                subject = gr.Dropdown(saved_subjects(ctx.subjects_dir), label="Saved subjects",
                                      elem_id="finetune-saved")
                refresh_button = gr.Button("Refresh list")
                target_class = gr.Textbox(label="Target class word (optional)", placeholder="tiger")
                prompt = gr.Textbox(label="Prompt", placeholder="on the beach")
                sampling = sampling_inputs(limits, ctx.pipe)
                run = gr.Button("Generate", variant="primary")
                gallery, downloads = image_outputs("finetune")
        connect(train_button.click, train, ctx, [name, files, subject_class, steps, seed], [status, subject],
                "finetune")
        on_open_or_refresh = functools.partial(gr.on, [tab.select, refresh_button.click])
        connect(on_open_or_refresh, refresh, ctx, [], subject, "saved_subjects", queue="subjects")
        connect(run.click, generate, ctx, [subject, target_class, prompt, *sampling.components()],
                [gallery, downloads], "generate_finetuned")
