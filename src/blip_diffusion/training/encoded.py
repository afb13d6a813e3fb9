"""Training material encoded once by frozen models, kept in a safetensors file beside the run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from blip_diffusion.utils.atomic import atomic_path


def encoded_once(path: Path, count: int, encode: Callable[[range], dict[str, torch.Tensor]],
                 extra: Callable[[], dict[str, torch.Tensor]] = dict, batch_size: int = 64,
                 desc: str = "encoding", required: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Per-position tensors for positions 0..count-1, read from ``path`` when its ``latents`` hold ``count``
    rows and it has every ``required`` key (a file from an older version may lack one); else
    ``encode(positions)`` per batch, concatenated, joined by ``extra()`` and written atomically."""
    if path.is_file():
        tensors = load_file(path)
        if len(tensors["latents"]) == count and all(key in tensors for key in required):
            return tensors
    chunks = [encode(range(first, min(count, first + batch_size)))
              for first in tqdm(range(0, count, batch_size), desc=desc, dynamic_ncols=True)]
    tensors = {key: torch.cat([chunk[key] for chunk in chunks]).contiguous() for key in chunks[0]}
    tensors.update({key: value.contiguous() for key, value in extra().items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        save_file(tensors, tmp)
    return tensors
