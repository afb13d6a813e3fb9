"""What every tab is built from: the shared pipeline, the server's limits and its folders."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from blip_diffusion.app.limits import Limits
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.controlnet import BlipDiffusionControlNetPipeline

# Events that run the pipeline share this concurrency id with a limit of 1: the pipeline (and its
# scheduler's state) is used by one request at a time, the others wait in Gradio's queue.
PIPELINE_QUEUE = "pipeline"


@dataclass(frozen=True)
class AppContext:
    """``control_pipe`` shares ``pipe``'s components (plus a ControlNet); without one, the structure
    control and style transfer tabs are left out. ``model`` and ``qformer_tokenizer`` are what
    ``pipe`` was loaded from: fine-tuning loads its own copy from them into ``subjects_dir``."""

    pipe: BlipDiffusionPipeline
    limits: Limits
    out_dir: Path  # generated files, one sub-folder per request
    examples_dir: Path | None = None  # DreamBench sample photos (assets/dreambench), if installed
    control_pipe: BlipDiffusionControlNetPipeline | None = None
    model: str = ""
    qformer_tokenizer: str | None = None
    subjects_dir: Path | None = None  # fine-tuned subjects, one folder each


def connect(trigger: Callable, handler: Callable, ctx: AppContext, inputs: Sequence, outputs: object,
            api_name: str, queue: str = PIPELINE_QUEUE) -> None:
    """Wire ``trigger`` (e.g. ``button.click``) to ``handler(ctx, *inputs)``, one request at a time in
    ``queue``, as API endpoint ``/api_name`` documented by the handler's docstring."""
    trigger(functools.partial(handler, ctx), list(inputs), outputs, api_name=api_name,
            api_description=handler.__doc__, concurrency_id=queue, concurrency_limit=1)
