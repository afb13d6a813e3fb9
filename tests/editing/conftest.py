"""Fixtures of the editing tests: the editing pipeline on the fixture model's components, a subject."""

import pytest
import torch

from blip_diffusion.pipelines.attention_control import AttentionEditConfig
from blip_diffusion.pipelines.editing import BlipDiffusionEditPipeline

# 32x32 images: 16x16 latents; the fixture UNet's cross-attention maps are 16x16 (down, up) and 8x8 (mid).
SMALL = {"height": 32, "width": 32, "num_inference_steps": 3}
NO_CONTROL = AttentionEditConfig(cross_replace_fraction=0.0, self_replace_fraction=0.0, blend_threshold=None)


@pytest.fixture(scope="session")
def edit_pipe(pipe):
    """The editing pipeline sharing the fixture pipeline's modules."""
    editing = BlipDiffusionEditPipeline.from_pipeline(pipe)
    editing.set_progress_bar_config(disable=True)
    return editing


@pytest.fixture(scope="session")
def dog_subject(pipe, dog_image):
    """The dog photo's subject embedding (class "dog"), encoded once."""
    return pipe.encode_subject(dog_image, "dog")


def noise(seed: int = 0, size: int = 16) -> torch.Tensor:
    """Initial latents (1, 4, size, size)."""
    return torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(seed))
