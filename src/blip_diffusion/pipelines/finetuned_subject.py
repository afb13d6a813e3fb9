"""Fine-tuned subjects: a folder written by ``blip-diffusion finetune``, loaded into a pipeline.

Folder layout::

    finetune.json                  method, class word, LoRA rank/alpha or full UNet, steps, base model
    subject.safetensors            the fine-tuned subject embeddings (a subject file, see subjects.py)
    pytorch_lora_weights.safetensors   LoRA of the UNet (diffusers' format, keys under "unet.")
    unet/                          instead of the LoRA file with --full-unet: the whole UNet

After :func:`load_finetuned_subject` the pipeline's UNet carries the subject's weights, and the
returned :class:`SubjectEmbedding` generates the subject without reference images.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from blip_diffusion.errors import InputError
from blip_diffusion.models.loading import load_strict, read_state_dict
from blip_diffusion.pipelines.acceleration import has_fused_projections
from blip_diffusion.pipelines.subjects import SubjectEmbedding

FINETUNE_FILE = "finetune.json"
SUBJECT_FILE = "subject.safetensors"
LORA_FILE = "pytorch_lora_weights.safetensors"
FULL_UNET_FOLDER = "unet"
ADAPTER_NAME = "subject"
BLIP_METHOD = "blip-diffusion"


def read_finetune_info(folder: str | os.PathLike) -> dict:
    path = Path(folder) / FINETUNE_FILE
    if not path.is_file():
        raise InputError(f"{folder} is not a fine-tuned subject folder: {FINETUNE_FILE} is missing")
    return json.loads(path.read_text())


def load_finetuned_subject(pipe, folder: str | os.PathLike) -> SubjectEmbedding:
    """Put the subject's UNet weights into ``pipe`` (replacing a previously loaded subject's LoRA) and
    return its subject embeddings."""
    folder = Path(folder)
    info = read_finetune_info(folder)
    if info.get("method") != BLIP_METHOD:
        raise InputError(f"{folder} was fine-tuned with method {info.get('method')!r}, which has no subject "
                         f"embeddings: load its LoRA into a text-to-image pipeline instead")
    subject = SubjectEmbedding.load(folder / SUBJECT_FILE)
    subject.check_model(pipe.subject_probe, source=f"the subject in {folder}")
    unet = pipe.unet
    if has_fused_projections(unet):
        raise InputError(f"load {folder} before pipe.compile(tuned=True): the fused attention projections "
                         f"would ignore its UNet weights")
    if ADAPTER_NAME in getattr(unet, "peft_config", {}):
        unet.delete_adapters(ADAPTER_NAME)
    if info.get("lora_rank", 0) > 0:
        unet.load_lora_adapter(str(folder), prefix="unet", adapter_name=ADAPTER_NAME, weight_name=LORA_FILE)
        unet.to(pipe.device)
    else:
        load_strict(unet, read_state_dict(folder / FULL_UNET_FOLDER, unet.dtype), str(folder / FULL_UNET_FOLDER))
        unet.to(pipe.device)
    return subject
