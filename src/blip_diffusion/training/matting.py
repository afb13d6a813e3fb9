"""Cutting a subject out of a real photo: CLIPSeg -> trimap -> closed-form matting -> composite.

BLIP-Diffusion's stage-2 input is the subject alpha-composited on a random background. For photos
without a mask: CLIPSeg (transformers) prompted by the class word gives a confidence map; confident
pixels become the trimap's foreground (>= ``high``) and background (<= ``low``), the rest unknown;
closed-form matting (Levin et al. 2008, pymatting's ``estimate_alpha_cf``) solves the alpha in the
unknown band. Masks are computed once per data folder and cached in ``DATA/masks_auto/``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)
AUTO_MASKS = "masks_auto"


class ClipSegSegmenter:
    """CLIPSeg prompted by a word -> per-pixel confidence in [0, 1]."""

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu"):
        from transformers import CLIPSegForImageSegmentation, CLIPSegProcessor

        if not Path(folder).is_dir():
            raise InputError(f"CLIPSeg model {folder} is not a folder (e.g. a download of CIDAS/clipseg-rd64-refined)")
        self.processor = CLIPSegProcessor.from_pretrained(folder)
        self.model = CLIPSegForImageSegmentation.from_pretrained(folder).to(device).eval()
        self.device = device

    @torch.no_grad()
    def confidence(self, image: Image.Image, word: str) -> np.ndarray:
        """(H, W) float32 in [0, 1] at the image's size."""
        inputs = self.processor(text=[word], images=[image], padding=True, return_tensors="pt").to(self.device)
        logits = self.model(**inputs).logits.reshape(1, 1, *inputs["pixel_values"].shape[-2:])
        full = torch.nn.functional.interpolate(logits.float(), size=(image.height, image.width), mode="bilinear")
        return full.sigmoid()[0, 0].cpu().numpy()


def trimap_from_confidence(confidence: np.ndarray, low: float = 0.3, high: float = 0.7) -> np.ndarray:
    """(H, W) confidence -> trimap (H, W) float64: 1 foreground, 0 background, 0.5 unknown.

    A map with no pixel above ``high`` (or none below ``low``), as from a weak or untrained model,
    falls back to its own top 10 % (bottom 30 %) so the matting always has both kinds of seeds.
    """
    trimap = np.full(confidence.shape, 0.5)
    foreground = confidence >= high
    background = confidence <= low
    if not foreground.any():
        foreground = confidence >= np.quantile(confidence, 0.9)
    if not background.any():
        background = (confidence <= np.quantile(confidence, 0.3)) & ~foreground
    trimap[background] = 0.0
    trimap[foreground] = 1.0
    return trimap


def closed_form_alpha(image: np.ndarray, trimap: np.ndarray) -> np.ndarray:
    """image (H, W, 3) float in [0, 1], trimap (H, W) -> alpha (H, W) float32 in [0, 1]."""
    from pymatting import estimate_alpha_cf

    alpha = estimate_alpha_cf(image.astype(np.float64), trimap.astype(np.float64))
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def matte(image: Image.Image, word: str, segmenter: ClipSegSegmenter, size: int) -> np.ndarray:
    """The subject's alpha (size, size) float32 for a ``size``-square picture."""
    confidence = segmenter.confidence(image, word)
    return closed_form_alpha(np.asarray(image, dtype=np.float64) / 255.0, trimap_from_confidence(confidence))


def auto_mask_path(folder: Path, record: dict[str, Any]) -> Path:
    return Path(folder) / AUTO_MASKS / (Path(record["image"]).with_suffix(".png").as_posix().replace("/", "__"))


def prepare_masks(folder: Path, records: list[dict[str, Any]], clipseg: str, resolution: int,
                  load: Any) -> int:
    """Compute and cache the masks of the records that have none; returns how many were made.

    ``load(record) -> PIL image`` gives the picture at ``resolution``, as training sees it.
    """
    missing = [r for r in records if "mask" not in r and not auto_mask_path(folder, r).is_file()]
    if not missing:
        return 0
    if not clipseg:
        raise InputError(f"{len(missing)} pictures of {folder} have no mask (first: {missing[0]['image']}): "
                         "add masks or set data.clipseg to a CLIPSeg model folder")
    segmenter = ClipSegSegmenter(clipseg)
    for record in missing:
        if not record.get("class"):
            raise InputError(f"{folder}: {record['image']} has no \"class\" word to prompt CLIPSeg with")
        alpha = matte(load(record), record["class"], segmenter, resolution)
        with atomic_path(auto_mask_path(folder, record)) as tmp:
            Image.fromarray(np.round(alpha * 255).astype(np.uint8)).save(tmp, format="PNG")
    logger.info("segmented %d pictures of %s with CLIPSeg + closed-form matting", len(missing), folder)
    return len(missing)
