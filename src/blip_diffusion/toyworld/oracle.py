"""The oracle: a small CNN that reads every attribute of a toy-world picture, plus an identity
embedding. It plays the part DINO and CLIP play in DreamBench, but it reads exact attributes.

- The context reader sees the whole picture, with two extra channels holding each pixel's
  coordinates, and reads the scene (24), the size word (3), the pose (centre and radius as
  fractions of the side, by regression) and a coarse mask of the subject (the share of each
  8x8-pixel cell it covers; a training signal, and its centroid and area help the pose).
- The identity reader sees a crop around the subject at the pose read, resampled to one scale,
  and reads class, body colour, accent colour, pattern and finish. Its features, L2-normalised,
  are the identity embedding: the cosine of two embeddings measures how much two pictures share
  an identity (the DINO analogue), whatever the background, place or size.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Sequence

import numpy as np
import safetensors.torch
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from blip_diffusion.errors import InputError
from blip_diffusion.toyworld.scenes import SCENE_NAMES
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, VOCABULARIES

logger = logging.getLogger(__name__)

# Everything the oracle classifies, in head order: attribute -> label words.
LABELS: dict[str, tuple[str, ...]] = {
    **{name: VOCABULARIES[name] for name in IDENTITY_ATTRIBUTES},
    "scene": SCENE_NAMES,
    "size": VOCABULARIES["size"],
}
FORMAT_VERSION = "1"
POSITION_TOLERANCE = 0.05  # a centre read within 5% of the side (3.2 px at 64 px) counts as right
RADIUS_TOLERANCE = 0.03  # a radius read within 3% of the side (1.9 px at 64 px) counts as right
MASK_CELL = 8  # pixels per side of one cell of the mask head's map


@dataclasses.dataclass(frozen=True)
class OracleConfig:
    resolution: int = 64  # pictures of any other size are resized to this; a multiple of 16
    width: int = 16  # channels of the context reader's first stage; doubled twice
    crop: int = 32  # side of the subject crop the identity reader sees
    crop_width: int = 24  # channels of the identity reader's first stage; doubled twice
    crop_margin: float = 1.15  # the crop spans this many subject radii on each side of the centre
    embed_dim: int = 128


@dataclasses.dataclass(frozen=True)
class OracleOutput:
    logits: dict[str, torch.Tensor]  # per attribute of LABELS: (B, n_labels)
    embedding: torch.Tensor  # (B, embed_dim), unit length
    pose: torch.Tensor  # (B, 3): centre x, centre y and radius as fractions of the side
    mask: torch.Tensor  # (B, R/8, R/8) logits of the share of each cell the subject covers


def _block(inputs: int, outputs: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(inputs, outputs, 3, stride, 1, bias=False), nn.BatchNorm2d(outputs), nn.ReLU(inplace=True)
    )


def _pyramid(inputs: int, width: int) -> list[nn.Module]:
    """Three stages of two blocks: (B, inputs, S, S) -> (B, 4 * width, S/4, S/4) after a first
    block at full size."""
    return [
        _block(inputs, width, 1),
        _block(width, 2 * width, 2), _block(2 * width, 2 * width, 1),
        _block(2 * width, 4 * width, 2), _block(4 * width, 4 * width, 1),
    ]  # fmt: skip


def _coordinates(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 2, H, W): x and y of every pixel in [-1, 1]."""
    batch, _, height, width = images.shape
    y = torch.linspace(-1.0, 1.0, height, device=images.device).view(1, 1, height, 1)
    x = torch.linspace(-1.0, 1.0, width, device=images.device).view(1, 1, 1, width)
    return torch.cat([x.expand(batch, 1, height, width), y.expand(batch, 1, height, width)], dim=1)


def crop_subject(images: torch.Tensor, pose: torch.Tensor, size: int, margin: float) -> torch.Tensor:
    """Cut the square of ``margin`` radii around each subject out of ``images`` (B, 3, H, W) and
    resample it to (B, 3, size, size); ``pose`` (B, 3) is centre x, centre y and radius as
    fractions of the side. Every subject then appears at one scale, wherever and however large."""
    scale = 2.0 * margin * pose[:, 2]
    zero = torch.zeros_like(scale)
    theta = torch.stack(
        [
            torch.stack([scale, zero, 2.0 * pose[:, 0] - 1.0], dim=1),
            torch.stack([zero, scale, 2.0 * pose[:, 1] - 1.0], dim=1),
        ],
        dim=1,
    )  # (B, 2, 3): output [-1, 1] -> input [-1, 1]
    grid = F.affine_grid(theta, [images.shape[0], 3, size, size], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)


class Oracle(nn.Module):
    """Two readers. The context reader sees the whole picture (with pixel coordinates) and reads
    scene, size, pose and the subject's mask. The identity reader sees only a crop around the
    subject, resampled to one scale, so neither background nor size nor place can sway it."""

    def __init__(self, config: OracleConfig = OracleConfig()) -> None:
        super().__init__()
        self.config = config
        w, cw = config.width, config.crop_width
        self.early = nn.Sequential(*_pyramid(5, w), _block(4 * w, 4 * w, 2))  # (B, 4w, R/8, R/8)
        self.late = _block(4 * w, 4 * w, 2)  # (B, 4w, R/16, R/16)
        self.mask_head = nn.Conv2d(4 * w, 1, 1)
        self.context_neck = nn.Sequential(nn.Linear(8 * w, 8 * w), nn.ReLU(inplace=True))
        self.pose_head = nn.Linear(8 * w + 3, 3)
        self.crop_reader = nn.Sequential(*_pyramid(3, cw))  # (B, 4cw, crop/4, crop/4)
        self.identity_neck = nn.Sequential(nn.Linear(8 * cw, config.embed_dim), nn.ReLU(inplace=True))
        self.heads = nn.ModuleDict(
            {name: nn.Linear(config.embed_dim, len(LABELS[name])) for name in IDENTITY_ATTRIBUTES}
            | {name: nn.Linear(8 * w, len(LABELS[name])) for name in ("scene", "size")}
        )

    def forward(self, images: torch.Tensor, crop_pose: torch.Tensor | None = None) -> OracleOutput:
        """``images`` (B, 3, R, R) in [0, 1] at the configured resolution. The identity reader's
        crop follows the pose read here, or ``crop_pose`` (B, 3) when given (in training)."""
        normalised = (images - 0.5) / 0.25
        early = self.early(torch.cat([normalised, _coordinates(images)], dim=1))
        mask = self.mask_head(early)  # (B, 1, R/8, R/8)
        late = self.late(early)
        context = self.context_neck(torch.cat([late.mean(dim=(2, 3)), late.amax(dim=(2, 3))], dim=1))
        pose = self.pose_head(torch.cat([context, _mask_statistics(torch.sigmoid(mask))], dim=1))
        box = pose.detach() if crop_pose is None else crop_pose
        crop = self.crop_reader(crop_subject(normalised, box, self.config.crop, self.config.crop_margin))
        identity = self.identity_neck(torch.cat([crop.mean(dim=(2, 3)), crop.amax(dim=(2, 3))], dim=1))
        logits = {
            name: head(identity if name in IDENTITY_ATTRIBUTES else context)
            for name, head in self.heads.items()
        }
        return OracleOutput(logits, F.normalize(identity, dim=-1), pose, mask[:, 0])


def _mask_statistics(weight: torch.Tensor) -> torch.Tensor:
    """(B, 1, h, w) coverage in [0, 1] -> (B, 3): its centroid (x, y) as fractions of the side, and
    the square root of the covered share, which grows with the subject's radius."""
    _, _, height, width = weight.shape
    y = (torch.arange(height, device=weight.device, dtype=weight.dtype) + 0.5) / height
    x = (torch.arange(width, device=weight.device, dtype=weight.dtype) + 0.5) / width
    mass = weight.sum(dim=(1, 2, 3)) + 1e-6  # (B,)
    centre_x = (weight * x.view(1, 1, 1, width)).sum(dim=(1, 2, 3)) / mass
    centre_y = (weight * y.view(1, 1, height, 1)).sum(dim=(1, 2, 3)) / mass
    return torch.stack([centre_x, centre_y, weight.mean(dim=(1, 2, 3)).sqrt()], dim=1)


@dataclasses.dataclass(frozen=True)
class Readings:
    """What the oracle reads in N pictures: label indices per attribute of :data:`LABELS` (N,),
    unit identity embeddings (N, embed_dim) and poses (N, 3) as (cx, cy, radius)."""

    labels: dict[str, np.ndarray]
    embeddings: np.ndarray
    poses: np.ndarray

    def words(self, index: int) -> dict[str, str]:
        """The attribute words read in picture ``index``."""
        return {name: LABELS[name][int(values[index])] for name, values in self.labels.items()}


def to_tensor(images: Sequence[Image.Image | np.ndarray], resolution: int) -> torch.Tensor:
    """Pictures (PIL or (H, W, 3) uint8) -> (N, 3, resolution, resolution) float in [0, 1]."""
    arrays = []
    for image in images:
        picture = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
        picture = picture.convert("RGB")
        if picture.size != (resolution, resolution):
            picture = picture.resize((resolution, resolution), Image.Resampling.BILINEAR)
        arrays.append(np.asarray(picture))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float().div(255.0)


@torch.no_grad()
def read(oracle: Oracle, images: Sequence[Image.Image | np.ndarray], batch_size: int = 256) -> Readings:
    """Run the oracle over ``images`` in batches (on the oracle's device)."""
    oracle.eval()
    device = next(oracle.parameters()).device
    labels: dict[str, list[np.ndarray]] = {name: [] for name in LABELS}
    embeddings, poses = [], []
    for start in range(0, len(images), batch_size):
        batch = to_tensor(images[start : start + batch_size], oracle.config.resolution).to(device)
        output = oracle(batch)
        for name in LABELS:
            labels[name].append(output.logits[name].argmax(dim=-1).cpu().numpy())
        embeddings.append(output.embedding.cpu().numpy())
        poses.append(output.pose.cpu().numpy())
    if not embeddings:
        empty = np.zeros(0, dtype=np.int64)
        return Readings(
            {name: empty for name in LABELS},
            np.zeros((0, oracle.config.embed_dim), np.float32),
            np.zeros((0, 3), np.float32),
        )
    return Readings(
        {n: np.concatenate(v) for n, v in labels.items()}, np.concatenate(embeddings), np.concatenate(poses)
    )


def save_oracle(oracle: Oracle, path: str | os.PathLike) -> None:
    """Write the weights and config to ``path`` (a .safetensors file; atomic via the caller's path)."""
    metadata = {
        "format": FORMAT_VERSION,
        "config": json.dumps(dataclasses.asdict(oracle.config)),
        "labels": json.dumps(LABELS),
    }
    tensors = {name: tensor.detach().cpu().contiguous() for name, tensor in oracle.state_dict().items()}
    safetensors.torch.save_file(tensors, str(path), metadata=metadata)


def load_oracle(path: str | os.PathLike, device: str | torch.device = "cpu") -> Oracle:
    """Load an oracle written by :func:`save_oracle`, strictly: every weight must match."""
    if not os.path.isfile(path):
        raise InputError(
            f"oracle={os.fspath(path)!r} does not exist; expected a .safetensors file "
            "(train one with `blip-diffusion toyworld train-oracle`)"
        )
    with safetensors.safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != FORMAT_VERSION or json.loads(metadata.get("labels", "null")) != {
        k: list(v) for k, v in LABELS.items()
    }:
        raise InputError(
            f"oracle={os.fspath(path)!r} was made for another version of the toy world; retrain it"
        )
    oracle = Oracle(OracleConfig(**json.loads(metadata["config"])))
    oracle.load_state_dict(safetensors.torch.load_file(str(path)), strict=True)
    return oracle.to(device).eval()
