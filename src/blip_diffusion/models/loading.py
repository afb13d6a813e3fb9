"""Strict weight loading and saving for every component of a model folder.

A component folder holds a config and one weight file (``*.safetensors`` preferred, ``*.bin``
read with ``weights_only=True``), possibly sharded with an ``.index.json``. Weights must match
the module exactly: a mismatch raises :class:`InputError` listing the missing, unexpected and
mis-shaped keys. The only tolerated difference is the ``position_ids`` buffers (``arange``
values that some transformers versions save and others do not), listed in
``TOLERATED_MISSING``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from accelerate import init_empty_weights
from safetensors.torch import load_file, save_file
from torch import nn

from blip_diffusion.errors import InputError

logger = logging.getLogger(__name__)

WEIGHT_NAMES = (
    "model.safetensors",
    "diffusion_pytorch_model.safetensors",
    "pytorch_model.bin",
    "diffusion_pytorch_model.bin",
)
TOLERATED_MISSING = ("embeddings.position_ids", "text_model.embeddings.position_ids")


def find_weights(folder: Path) -> list[Path]:
    """The weight file(s) of a component folder, shards in order."""
    for name in WEIGHT_NAMES:
        if (folder / name).is_file():
            return [folder / name]
        index = folder / f"{name}.index.json"
        if index.is_file():
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            return [folder / shard for shard in shards]
    raise InputError(f"no weights in {folder}: expected one of {', '.join(WEIGHT_NAMES)}")


def read_state_dict(folder: Path, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    state: dict[str, torch.Tensor] = {}
    for path in find_weights(folder):
        try:
            if path.suffix == ".safetensors":
                part = load_file(path)
            else:
                part = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # corrupt or truncated files raise many different types
            raise InputError(f"cannot read weights {path}: {error}") from error
        state.update(part)
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    return state


def load_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` (built on the meta device or not); any mismatch is an error."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state and k not in TOLERATED_MISSING]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or mis_shaped:
        problems = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", mis_shaped)):
            if keys:
                shown = ", ".join(keys[:8]) + (f" (+{len(keys) - 8} more)" if len(keys) > 8 else "")
                problems.append(f"{len(keys)} {label}: {shown}")
        raise InputError(f"weights of {source} do not match its config: {'; '.join(problems)}")
    for key in TOLERATED_MISSING:
        if key in expected and key not in state:
            state = {**state, key: expected[key]}
    module.load_state_dict(state, strict=True, assign=True)


def build_and_load(factory: Callable[[], nn.Module], folder: Path, dtype: torch.dtype | None) -> nn.Module:
    """Build ``factory()`` without allocating weights, then load the folder's weights strictly, in
    ``dtype`` (None: torch's default dtype, float32, whatever the file stores, as diffusers does)."""
    return build_with_state(factory, read_state_dict(folder, dtype or torch.get_default_dtype()), str(folder))


def build_with_state(factory: Callable[[], nn.Module], state: dict[str, torch.Tensor], source: str) -> nn.Module:
    with init_empty_weights():
        module = factory()
    load_strict(module, state, source)
    return module.eval()


def save_weights(module: nn.Module, folder: Path, filename: str = "model.safetensors") -> None:
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(state, folder / filename, metadata={"format": "pt"})
