"""BLIP-Diffusion: subject-driven text-to-image generation and editing."""

from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline, BlipDiffusionPipelineOutput
from blip_diffusion.pipelines.subjects import SubjectEmbedding

__version__ = "0.1.0"
__all__ = ["BlipDiffusionPipeline", "BlipDiffusionPipelineOutput", "SubjectEmbedding", "__version__"]
