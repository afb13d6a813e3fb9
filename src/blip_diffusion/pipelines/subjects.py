"""Subject embeddings as reusable files: encode a subject once, generate with it many times.

A subject file is a small ``.safetensors`` file holding the (Q, D) subject embeddings, a probe
of the subject encoder that made them (so a file from another model is refused rather than
silently producing garbage), and metadata: class word, model name, hashes of the source images.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from blip_diffusion.errors import InputError
from blip_diffusion.utils.atomic import atomic_path

FORMAT = "blip-diffusion-subject/1"
PROBE_TOLERANCE = 1e-2  # the probe survives a float16/bfloat16 round trip of the model's weights


@dataclass
class SubjectEmbedding:
    """Subject embeddings (Q, D) with their provenance."""

    embeds: torch.Tensor
    category: str
    model_probe: torch.Tensor
    model: str = ""
    image_hashes: list[str] = field(default_factory=list)

    def save(self, path: str | os.PathLike) -> Path:
        metadata = {
            "format": FORMAT,
            "category": self.category,
            "model": self.model,
            "image_hashes": json.dumps(self.image_hashes),
        }
        tensors = {
            "subject_embeds": self.embeds.detach().float().cpu().contiguous(),
            "model_probe": self.model_probe.detach().float().cpu().contiguous(),
        }
        with atomic_path(path) as tmp:
            save_file(tensors, tmp, metadata=metadata)
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> SubjectEmbedding:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"subject file not found: {path}")
        try:
            tensors = load_file(path)
            with safe_open(path, "pt") as handle:
                metadata = handle.metadata() or {}
        except (SafetensorError, OSError) as error:
            raise InputError(f"not a subject file: {path} ({error})") from error
        if metadata.get("format") != FORMAT or "subject_embeds" not in tensors:
            raise InputError(f"not a subject file: {path} (expected format {FORMAT!r})")
        return cls(
            embeds=tensors["subject_embeds"],
            category=metadata["category"],
            model_probe=tensors["model_probe"],
            model=metadata.get("model", ""),
            image_hashes=json.loads(metadata.get("image_hashes", "[]")),
        )

    def check_model(self, probe: torch.Tensor, source: str = "subject embeddings") -> None:
        """Raise unless these embeddings were made by the subject encoder whose probe is ``probe``."""
        mine = self.model_probe.float().cpu()
        theirs = probe.float().cpu()
        if mine.shape != theirs.shape or not torch.allclose(mine, theirs, atol=PROBE_TOLERANCE, rtol=PROBE_TOLERANCE):
            raise InputError(
                f"{source} were made by another model ({self.model or 'unknown'}): encode the subject "
                "again with this model (blip-diffusion encode-subject)"
            )


def hash_file(path: str | os.PathLike) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
