"""BLIP-Diffusion: subject-driven text-to-image generation and editing.

The names below load on first use: importing the package (as the ``blip-diffusion`` command does
before it knows which subcommand runs) does not import torch, diffusers and transformers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline, BlipDiffusionPipelineOutput
    from blip_diffusion.pipelines.subjects import SubjectEmbedding

__version__ = "0.1.0"
__all__ = ["BlipDiffusionPipeline", "BlipDiffusionPipelineOutput", "SubjectEmbedding", "__version__"]

_HOMES = {
    "BlipDiffusionPipeline": "blip_diffusion.pipelines.blip_diffusion",
    "BlipDiffusionPipelineOutput": "blip_diffusion.pipelines.blip_diffusion",
    "SubjectEmbedding": "blip_diffusion.pipelines.subjects",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_HOMES[name]), name)
