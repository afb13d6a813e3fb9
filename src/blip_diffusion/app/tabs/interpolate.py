"""Subject interpolation: frames from subject A to subject B with one seed, shown as an animation."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import gradio as gr

from blip_diffusion.app.context import AppContext, connect
from blip_diffusion.app.errors import user_errors
from blip_diffusion.app.limits import check_range, whole_number
from blip_diffusion.app.outputs import request_folder, save_frames
from blip_diffusion.app.sampling import read_sampling, sampling_inputs
from blip_diffusion.app.uploads import read_subject
from blip_diffusion.app.widgets import GALLERY_BUTTONS, STEP_PROGRESS, subject_files
from blip_diffusion.pipelines.interpolation import INTERPOLATIONS, interpolate_subjects, save_gif

DEFAULT_FRAMES = 8
MAX_FRAME_MS = 10_000


@user_errors
def interpolate(
    ctx: AppContext, files_a: Sequence[str] | None, class_a: str, files_b: Sequence[str] | None, class_b: str,
    target_class: str, prompt: str, frames: float | None, method: str, frame_ms: float | None, bounce: bool,
    negative_prompt: str, seed: float | None, steps: float | None, guidance: float, width: float | None,
    height: float | None, progress: gr.Progress = STEP_PROGRESS,
) -> tuple[str, list[str], list[str]]:
    """Frames from subject A to subject B, all from one seed: the GIF, the frames and their PNG files."""
    frames, frame_ms = whole_number("frames", frames), whole_number("frame duration", frame_ms)
    check_range("frames", frames, 2, ctx.limits.max_frames, "max_frames")
    check_range("frame duration (ms)", frame_ms, 1, MAX_FRAME_MS)
    sampling = read_sampling(ctx.limits, negative_prompt, seed, steps, guidance, width, height)
    result = interpolate_subjects(
        ctx.pipe, prompt, read_subject(files_a, ctx.limits), read_subject(files_b, ctx.limits),
        category_a=class_a.strip() or None, category_b=class_b.strip() or None,
        target_category=target_class.strip() or None, num_frames=frames, method=method, seed=sampling.seed,
        **sampling.call_kwargs(),
    )
    settings = {"prompt": prompt, "subject_a": [Path(f).name for f in files_a], "class_a": class_a.strip(),
                "subject_b": [Path(f).name for f in files_b], "class_b": class_b.strip(),
                "target_class": target_class.strip(), "method": method, "seed": sampling.seed,
                **sampling.settings(ctx.pipe)}
    folder = request_folder(ctx.out_dir)
    paths = save_frames(result.frames, result.weights, folder, settings)
    return str(save_gif(result.frames, folder / "interpolation.gif", frame_ms, bounce)), paths, paths


def build(ctx: AppContext) -> None:
    limits = ctx.limits
    with gr.Tab("Interpolation", id="interpolate", elem_id="tab-interpolate"):
        with gr.Row():
            with gr.Column():
                with gr.Row():
                    files_a = subject_files(limits, label="Subject A", elem_id="interpolate-a")
                    files_b = subject_files(limits, label="Subject B", elem_id="interpolate-b")
                with gr.Row():
                    class_a = gr.Textbox(label="Class word of A", placeholder="dog")
                    class_b = gr.Textbox(label="Class word of B", placeholder="cat")
                target_class = gr.Textbox(label="Class word in the prompt (default: the subjects' class)")
                prompt = gr.Textbox(label="Prompt", placeholder="on the beach")
                with gr.Row():
                    frames = gr.Number(label=f"Frames (2-{limits.max_frames})",
                                       value=min(DEFAULT_FRAMES, limits.max_frames), precision=0)
                    method = gr.Radio(sorted(INTERPOLATIONS), value="spherical", label="Path")
                    frame_ms = gr.Number(label="Frame duration (ms)", value=250, precision=0)
                    bounce = gr.Checkbox(label="Play back and forth")
                sampling = sampling_inputs(limits, ctx.pipe, num_images=False)
            with gr.Column():
                run = gr.Button("Interpolate", variant="primary")
                animation = gr.Image(label="Animation", type="filepath", interactive=False,
                                     elem_id="interpolate-animation")
                gallery = gr.Gallery(label="Frames", format="png", columns=4, elem_id="interpolate-gallery",
                                     buttons=GALLERY_BUTTONS)
                downloads = gr.File(label="Frame PNG files", file_count="multiple",
                                    elem_id="interpolate-files")
        inputs = [files_a, class_a, files_b, class_b, target_class, prompt, frames, method, frame_ms, bounce,
                  *sampling.components()]
        connect(run.click, interpolate, ctx, inputs, [animation, gallery, downloads], "interpolate")
