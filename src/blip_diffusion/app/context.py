"""What every tab is built from: the shared pipeline, the server's limits and its folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from blip_diffusion.app.limits import Limits
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline

# Events that run the pipeline share this concurrency id with a limit of 1: the pipeline (and its
# scheduler's state) is used by one request at a time, the others wait in Gradio's queue.
PIPELINE_QUEUE = "pipeline"


@dataclass(frozen=True)
class AppContext:
    pipe: BlipDiffusionPipeline
    limits: Limits
    out_dir: Path  # generated files, one sub-folder per request
    examples_dir: Path | None = None  # DreamBench sample photos (assets/dreambench), if installed
