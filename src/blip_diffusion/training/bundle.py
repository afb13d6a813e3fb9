"""Release a trained toy model: the BLIP-Diffusion folder (stage 2) and its base model (stage 0) in
one folder, weights in float16 safetensors, and every component the two share stored once::

    OUT/blip-diffusion/   the official layout (model_index.json, qformer/, text_encoder/, unet/, vae/, ...)
    OUT/base/             the StableDiffusionPipeline folder plus clip/; components identical to the
                          BLIP-Diffusion folder's (vae/, scheduler/) are relative symlinks

With a ControlNet of the base model (``train controlnet``), the BLIP-Diffusion folder also holds it as
its ``controlnet/`` component, as ``Salesforce/blipdiffusion-controlnet`` does: the folder then loads
as ``BlipDiffusionPipeline`` (which leaves the ControlNet out) and as ``BlipDiffusionControlNetPipeline``.
Both folders load as they are (``BlipDiffusionPipeline.from_pretrained``,
``DiffusionPipeline.from_pretrained``); float16 weights load into float32 models unless a dtype is
asked for. Model cards (``README.md``) already in ``OUT`` are kept. Without a stage-2 model only
``OUT/base/`` is written (the base model is final before stage 2 is trained); the float16 files are
the same bytes either way, so a later full bundle adds nothing to a repository's history for them.
"""

from __future__ import annotations

import filecmp
import json
import shutil
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.model_folder import MODEL_INDEX, read_model_index
from blip_diffusion.utils.atomic import atomic_path

MODEL_FOLDER, BASE_FOLDER, CARD = "blip-diffusion", "base", "README.md"
CONTROLNET = "controlnet"


def bundle_toy_model(model: Path | None, base: Path, out: Path, dtype: torch.dtype = torch.float16,
                     controlnet: Path | None = None) -> Path:
    """Write ``out`` (replacing it whole, atomically) from a stage-2 ``model`` (or None) and stage-0 ``base``
    folder, with ``controlnet`` (a diffusers ControlNetModel folder of the base model) in the model's folder."""
    base, out = Path(base), Path(out)
    if controlnet is not None and model is None:
        raise InputError("a ControlNet is bundled into the BLIP-Diffusion folder: give the stage-2 model too")
    folders = [(base, "base")] + ([(Path(model), "model")] if model is not None else [])
    for folder, what in folders:
        if not (folder / MODEL_INDEX).is_file():
            raise InputError(
                f"{what} folder {folder} has no model_index.json: expected a trained model folder"
            )
    if controlnet is not None and not (Path(controlnet) / "config.json").is_file():
        raise InputError(f"controlnet folder {controlnet} has no config.json: expected a trained ControlNet folder")
    cards = {name: (out / name / CARD).read_text() for name in (MODEL_FOLDER, BASE_FOLDER)
             if (out / name / CARD).is_file()}  # fmt: skip
    with atomic_path(out) as tmp:
        copy_weights_as(base, tmp / BASE_FOLDER, dtype)
        if model is not None:
            copy_weights_as(Path(model), tmp / MODEL_FOLDER, dtype)
            if controlnet is not None:
                add_controlnet(Path(controlnet), tmp / MODEL_FOLDER, dtype)
            link_shared_components(tmp)
        for name, text in cards.items():
            if (tmp / name).is_dir():
                (tmp / name / CARD).write_text(text)
    return out


def add_controlnet(controlnet: Path, model: Path, dtype: torch.dtype) -> None:
    """``controlnet`` as the ``controlnet/`` component of the model folder ``model`` (its index entry added)."""
    copy_weights_as(controlnet, model / CONTROLNET, dtype)
    index = {**read_model_index(model), CONTROLNET: ["diffusers", "ControlNetModel"]}
    (model / MODEL_INDEX).write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")


def link_shared_components(root: Path) -> None:
    """Replace each base component identical to the model's with a relative link to the model's copy."""
    for component in sorted(p.name for p in (root / BASE_FOLDER).iterdir() if p.is_dir()):
        shared = root / MODEL_FOLDER / component
        if shared.is_dir() and same_component(shared, root / BASE_FOLDER / component):
            shutil.rmtree(root / BASE_FOLDER / component)
            (root / BASE_FOLDER / component).symlink_to(Path("..") / MODEL_FOLDER / component)


def copy_weights_as(source: Path, target: Path, dtype: torch.dtype) -> None:
    """Copy a model folder, with the floating-point tensors of every .safetensors file cast to ``dtype``."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns(CARD))
    for path in sorted(target.rglob("*.safetensors")):
        with safe_open(str(path), framework="pt") as reader:
            metadata = reader.metadata()
            tensors = {key: reader.get_tensor(key) for key in reader.keys()}  # noqa: SIM118 (not a dict)
        cast = {k: v.to(dtype) if v.is_floating_point() else v for k, v in tensors.items()}
        save_file({k: v.contiguous() for k, v in cast.items()}, str(path), metadata=metadata)


def same_component(a: Path, b: Path) -> bool:
    """Whether two component folders hold the same files with the same bytes (JSON compared as data)."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    if files_a != files_b:
        return False
    for name in files_a:
        if name.suffix == ".json":
            if json.loads((a / name).read_text()) != json.loads((b / name).read_text()):
                return False
        elif not filecmp.cmp(a / name, b / name, shallow=False):
            return False
    return True
