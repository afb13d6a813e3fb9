"""Training material encoded once by frozen models, kept in a safetensors file beside the run."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from blip_diffusion.utils.atomic import atomic_path

logger = logging.getLogger(__name__)
ENCODERS_KEY = "encoders"  # the file's metadata entry: fingerprint() of the models that encoded it


def fingerprint(*modules: torch.nn.Module | None) -> str | None:
    """A digest of the modules' weights; None where one is missing (a file read back without its encoders)."""
    if any(module is None for module in modules):
        return None
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def encoded_once(path: Path, count: int, encode: Callable[[range], dict[str, torch.Tensor]],
                 extra: Callable[[], dict[str, torch.Tensor]] = dict, batch_size: int = 64,
                 desc: str = "encoding", required: tuple[str, ...] = (),
                 encoders: str | None = None) -> dict[str, torch.Tensor]:
    """Per-position tensors for positions 0..count-1, read from ``path`` when its ``latents`` hold ``count``
    rows, it has every ``required`` key (a file from an older version may lack one) and, given the
    ``encoders`` fingerprint, it was encoded by those same models; else ``encode(positions)`` per batch,
    concatenated, joined by ``extra()`` and written atomically."""
    if path.is_file():
        with safe_open(path, "pt") as handle:
            written_by = (handle.metadata() or {}).get(ENCODERS_KEY)
            complete = handle.get_slice("latents").get_shape()[0] == count and set(required) <= set(handle.keys())
        if complete and encoders not in (None, written_by):
            logger.warning("%s was encoded by other models than this run's: encoding again", path)
        elif complete:
            return load_file(path)
    chunks = [encode(range(first, min(count, first + batch_size)))
              for first in tqdm(range(0, count, batch_size), desc=desc, dynamic_ncols=True)]
    tensors = {key: torch.cat([chunk[key] for chunk in chunks]).contiguous() for key in chunks[0]}
    tensors.update({key: value.contiguous() for key, value in extra().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={ENCODERS_KEY: encoders} if encoders else None)
    return tensors
