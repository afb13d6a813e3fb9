"""Reading and writing model folders in the official Hub layout (``Salesforce/blipdiffusion``).

``model_index.json`` names each component folder and its class; every class the official
layouts use maps to one loader here. Hub ids are fetched with ``huggingface_hub`` (which honours
``HF_HUB_OFFLINE=1`` and its cache); nothing is downloaded anywhere else.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
from transformers import BertTokenizer, Blip2Config, CLIPTextConfig, CLIPTokenizer, PreTrainedTokenizerBase

from blip_diffusion.errors import InputError
from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
from blip_diffusion.models.loading import build_and_load, save_weights
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines.image_processing import SubjectImageProcessor

MODEL_INDEX = "model_index.json"
QFORMER_TOKENIZER_FOLDER = "qformer_tokenizer"
DEFAULT_QFORMER_TOKENIZER = "bert-base-uncased"
HUB_PATTERNS = ["*.json", "*.txt", "*.safetensors", "*.model", "*/*.json", "*/*.txt", "*/*.safetensors"]


def resolve_model_folder(name_or_path: str | os.PathLike) -> Path:
    """A local folder as is; anything else is treated as a Hub repo id and fetched (or read from cache)."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / MODEL_INDEX).is_file():
            raise InputError(f"{path} is not a model folder: {MODEL_INDEX} is missing")
        return path
    name = str(name_or_path)
    if path.exists() or name.count("/") != 1 or name.startswith((".", "/")):
        raise InputError(f"model not found: {name} is neither a model folder nor a Hub repo id (owner/name)")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        local = snapshot_download(name, allow_patterns=HUB_PATTERNS)
    except LocalEntryNotFoundError:  # offline, or not in the cache: the .bin weights are a second try
        local = _snapshot_with_bin_weights(name)
    except HfHubHTTPError as error:
        raise InputError(f"cannot fetch model {name} from the Hub: {error}") from error
    return resolve_model_folder(local)


def _snapshot_with_bin_weights(name: str) -> str:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return snapshot_download(name, allow_patterns=[*HUB_PATTERNS, "*/*.bin"])
    except LocalEntryNotFoundError as error:
        raise InputError(
            f"model {name} is not in the local Hub cache and cannot be downloaded (offline?): {error}"
        ) from error


def read_model_index(folder: Path) -> dict:
    try:
        return json.loads((folder / MODEL_INDEX).read_text())
    except json.JSONDecodeError as error:
        raise InputError(f"{folder / MODEL_INDEX} is not valid JSON: {error}") from error


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"missing component file: {path}")
    return json.loads(path.read_text())


def _load_subject_encoder(folder: Path, dtype: torch.dtype | None) -> SubjectEncoder:
    config = Blip2Config.from_dict(read_json(folder / "config.json"))
    return build_and_load(lambda: SubjectEncoder(config), folder, dtype)


def _load_text_encoder(folder: Path, dtype: torch.dtype | None) -> ContextCLIPTextModel:
    config = CLIPTextConfig.from_dict(read_json(folder / "config.json"))
    return build_and_load(lambda: ContextCLIPTextModel(config), folder, dtype)


def _diffusers_model_loader(cls: type) -> Callable[[Path, torch.dtype | None], torch.nn.Module]:
    def load(folder: Path, dtype: torch.dtype | None) -> torch.nn.Module:
        config = read_json(folder / "config.json")
        return build_and_load(lambda: cls.from_config(config), folder, dtype)

    return load


def _load_scheduler(class_name: str) -> Callable:
    def load(folder: Path, dtype: torch.dtype | None):
        return getattr(diffusers, class_name).from_config(read_json(folder / "scheduler_config.json"))

    return load


def diffusers_class(class_name: str) -> type:
    if class_name not in DIFFUSERS_MODELS:
        raise InputError(f"unsupported model class {class_name!r}: expected one of {', '.join(DIFFUSERS_MODELS)}")
    return DIFFUSERS_MODELS[class_name]


DIFFUSERS_MODELS = {"UNet2DConditionModel": UNet2DConditionModel, "AutoencoderKL": AutoencoderKL,
                    "ControlNetModel": ControlNetModel}

LOADERS: dict[str, Callable[[Path, torch.dtype | None], object]] = {
    "Blip2QFormerModel": _load_subject_encoder,
    "ContextCLIPTextModel": _load_text_encoder,
    **{name: _diffusers_model_loader(cls) for name, cls in DIFFUSERS_MODELS.items()},
    "CLIPTokenizer": lambda folder, dtype: CLIPTokenizer.from_pretrained(folder),
    "BlipImageProcessor": lambda folder, dtype: SubjectImageProcessor.from_pretrained(folder),
}


def load_component(root: Path, name: str, spec: list, dtype: torch.dtype | None) -> object:
    """Load component ``name`` whose model_index entry is ``[library, class_name]``."""
    folder = root / name
    if not folder.is_dir():
        raise InputError(f"model folder {root} lacks component {name!r} (no folder {folder})")
    class_name = spec[1]
    if class_name.endswith("Scheduler") and hasattr(diffusers, class_name):
        return _load_scheduler(class_name)(folder, dtype)
    if class_name not in LOADERS:
        raise InputError(
            f"component {name!r} of {root} has unsupported class {class_name!r}: supported are "
            f"{', '.join(LOADERS)} and diffusers schedulers"
        )
    return LOADERS[class_name](folder, dtype)


def load_qformer_tokenizer(
    root: Path, qformer_tokenizer: str | os.PathLike | PreTrainedTokenizerBase | None, vocab_size: int
) -> PreTrainedTokenizerBase:
    """The Q-Former's BERT tokenizer with the ``[DEC]`` BOS token, as the original builds it.

    Looked up in order: the argument, ``<model>/qformer_tokenizer/``, ``bert-base-uncased``
    through the Hub cache.
    """
    if isinstance(qformer_tokenizer, PreTrainedTokenizerBase):
        tokenizer = qformer_tokenizer
    else:
        source = qformer_tokenizer
        if source is None:
            bundled = root / QFORMER_TOKENIZER_FOLDER
            source = bundled if bundled.is_dir() else DEFAULT_QFORMER_TOKENIZER
        try:
            tokenizer = BertTokenizer.from_pretrained(str(source), truncation_side="right")
        except OSError as error:
            raise InputError(
                f"cannot load the Q-Former tokenizer from {source}: pass qformer_tokenizer= a local BERT "
                f"tokenizer folder, or run once with internet access to cache {DEFAULT_QFORMER_TOKENIZER}"
            ) from error
    if tokenizer.bos_token != "[DEC]":
        tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    if len(tokenizer) != vocab_size:
        raise InputError(
            f"Q-Former tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {vocab_size}: "
            "pass the tokenizer the model was trained with (qformer_tokenizer=...)"
        )
    return tokenizer


def save_component(component: object, folder: Path) -> None:
    """Write one component in the official layout (configs beside safetensors weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(component, (SubjectEncoder, ContextCLIPTextModel)):
        component.config.to_json_file(folder / "config.json")
        save_weights(component, folder)
    elif hasattr(component, "save_pretrained"):
        component.save_pretrained(folder)
    else:
        component.save_config(folder)
