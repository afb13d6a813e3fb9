"""BLIP-Diffusion: subject-driven text-to-image generation and editing."""

__version__ = "0.1.0"
