"""Reuse of subject and prompt embeddings across calls with the same inputs.

Keys are digests of the inputs' content (image pixels or file bytes, texts, embedding values), so a
changed image or tensor never hits a stale entry. Entries depend on the encoders' weights: after
changing those, call :meth:`EmbeddingCache.clear`. Loading a fine-tuned subject changes only the
UNet and keeps the entries valid.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable

import PIL.Image
import torch


class EmbeddingCache:
    """A least-recently-used store of tensors, at most ``max_entries`` of them."""

    def __init__(self, max_entries: int = 64):
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self.entries: OrderedDict[Hashable, torch.Tensor] = OrderedDict()
        self.hits = self.misses = 0

    def get(self, key: Hashable, compute: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The stored tensor for ``key``, or ``compute()``'s result, stored."""
        if key in self.entries:
            self.hits += 1
            self.entries.move_to_end(key)
            return self.entries[key]
        self.misses += 1
        value = compute()
        self.entries[key] = value
        if len(self.entries) > self.max_entries:
            self.entries.popitem(last=False)
        return value

    def clear(self) -> None:
        self.entries.clear()


def image_digest(image: PIL.Image.Image) -> str:
    """An image's mode, size and pixels, hashed (files are keyed by :func:`subjects.hash_file`)."""
    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def tensor_digest(tensor: torch.Tensor) -> str:
    """Shape, dtype and values, hashed (copies the tensor to the host)."""
    values = tensor.detach().cpu().contiguous()
    digest = hashlib.sha256(f"{tuple(values.shape)}{values.dtype}".encode())
    digest.update(values.flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
