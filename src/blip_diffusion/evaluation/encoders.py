"""The metric models: DINO (image features) and CLIP (image and text features), by Hub id or folder.

DINO feature = the CLS token of ViT's last layer after its final LayerNorm (what DINO's own
``forward`` returns). CLIP features = the projected pooled outputs (``get_image_features`` /
``get_text_features``), computed through the sub-modules so the result is a tensor on every
transformers version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.transforms import ImageTransform

logger = logging.getLogger(__name__)

DEFAULT_DINO_MODEL = "facebook/dino-vits16"
DEFAULT_CLIP_MODEL = "openai/clip-vit-base-patch32"
# ImageNet evaluation geometry of the DINO protocol: resize to 256, centre-crop 224.
DINO_RESIZE_PER_CROP = 256 / 224
_EXAMPLE_IDS = {"DINO": DEFAULT_DINO_MODEL, "CLIP": DEFAULT_CLIP_MODEL}

T = TypeVar("T")


def _load(what: str, name: str, loader: Callable[[], T]) -> T:
    """Run ``loader``; a missing folder or an unreachable Hub id becomes a one-line InputError.

    ``what`` is ``"DINO"`` or ``"CLIP"``, a key of ``_EXAMPLE_IDS``.
    """
    try:
        return loader()
    except OSError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(
            f"{what} model '{name}' could not be loaded ({reason}); expected a Hub id such as "
            f"{_EXAMPLE_IDS[what]} or a local folder in that layout"
        ) from error


def _mean_std(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation constants from the model's ``preprocessor_config.json``."""
    from transformers.utils import cached_file

    with open(cached_file(name, "preprocessor_config.json"), encoding="utf-8") as f:
        config = json.load(f)
    return tuple(config["image_mean"]), tuple(config["image_std"])


def _batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class DinoEncoder:
    """DINO ViT image features: PIL images -> (N, hidden) CLS features."""

    def __init__(self, model: torch.nn.Module, transform: ImageTransform, device: torch.device | str = "cpu"):
        self.model = model.to(device).eval()
        self.transform = transform
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: torch.device | str = "cpu") -> DinoEncoder:
        """Load a DINO ViT (``facebook/dino-vits16`` layout) by Hub id or folder."""
        from transformers import ViTModel

        model = _load(
            "DINO", name_or_path, lambda: ViTModel.from_pretrained(name_or_path, add_pooling_layer=False)
        )
        mean, std = _load("DINO", name_or_path, lambda: _mean_std(name_or_path))
        crop = model.config.image_size
        logger.info(
            "DINO model %s: resize %d, crop %d", name_or_path, round(crop * DINO_RESIZE_PER_CROP), crop
        )
        return cls(model, ImageTransform(round(crop * DINO_RESIZE_PER_CROP), crop, mean, std), device)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> torch.Tensor:
        """(N,) PIL images -> float32 CPU tensor (N, hidden)."""
        features = []
        for batch in _batches(images, batch_size):
            pixels = self.transform(batch).to(self.device)
            features.append(self.model(pixel_values=pixels).last_hidden_state[:, 0].float().cpu())
        return torch.cat(features)


class ClipEncoder:
    """CLIP image and text features in the shared projection space (N, projection_dim)."""

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Callable,
        transform: ImageTransform,
        device: torch.device | str = "cpu",
    ):
        self.model = model.to(device).eval()
        self.tokenizer = tokenizer
        self.transform = transform
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, name_or_path: str, device: torch.device | str = "cpu") -> ClipEncoder:
        """Load a CLIP model and its tokenizer (``openai/clip-vit-*`` layout) by Hub id or folder."""
        from transformers import AutoTokenizer, CLIPModel

        model = _load("CLIP", name_or_path, lambda: CLIPModel.from_pretrained(name_or_path))
        tokenizer = _load("CLIP", name_or_path, lambda: AutoTokenizer.from_pretrained(name_or_path))
        mean, std = _load("CLIP", name_or_path, lambda: _mean_std(name_or_path))
        # CLIP's own preprocessing: Resize(n_px) then CenterCrop(n_px) at the model's input size.
        size = model.config.vision_config.image_size
        logger.info("CLIP model %s: resize and crop %d", name_or_path, size)
        return cls(model, tokenizer, ImageTransform(size, size, mean, std), device)

    @torch.no_grad()
    def encode_images(self, images: Sequence[Image.Image], batch_size: int = 32) -> torch.Tensor:
        """(N,) PIL images -> float32 CPU tensor (N, projection_dim)."""
        features = []
        for batch in _batches(images, batch_size):
            pooled = self.model.vision_model(pixel_values=self.transform(batch).to(self.device)).pooler_output
            features.append(self.model.visual_projection(pooled).float().cpu())
        return torch.cat(features)

    @torch.no_grad()
    def encode_texts(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        """(N,) prompts -> float32 CPU tensor (N, projection_dim); truncated to the model's context."""
        features = []
        max_length = self.model.config.text_config.max_position_embeddings
        for batch in _batches(list(texts), batch_size):
            tokens = self.tokenizer(
                list(batch), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            ).to(self.device)
            pooled = self.model.text_model(input_ids=tokens.input_ids, attention_mask=tokens.attention_mask)
            features.append(self.model.text_projection(pooled.pooler_output).float().cpu())
        return torch.cat(features)
