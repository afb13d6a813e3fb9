"""Turn a LAVIS checkpoint folder into a model folder in the official layout."""

from __future__ import annotations

import os
from pathlib import Path

from transformers import Blip2Config, CLIPTextConfig

from blip_diffusion.errors import InputError
from blip_diffusion.models.convert_lavis import subject_encoder_state
from blip_diffusion.models.ctx_clip import ContextCLIPTextModel
from blip_diffusion.models.loading import build_and_load, build_with_state
from blip_diffusion.models.subject_encoder import SubjectEncoder
from blip_diffusion.pipelines import model_folder
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline


def convert_lavis_folder(
    lavis_dir: str | os.PathLike, config_from: str | os.PathLike, out: str | os.PathLike,
    qformer_tokenizer: str | os.PathLike | None = None,
) -> Path:
    """Weights from ``lavis_dir``; configs, tokenizers and scheduler from the model ``config_from``."""
    lavis_dir = Path(lavis_dir)
    if not lavis_dir.is_dir():  # before config_from, which may mean a download
        raise InputError(f"LAVIS checkpoint folder not found: {lavis_dir}")
    root = model_folder.resolve_model_folder(config_from)
    index = model_folder.read_model_index(root)
    read = model_folder.read_json
    qformer = build_with_state(
        lambda: SubjectEncoder(Blip2Config.from_dict(read(root / "qformer" / "config.json"))),
        subject_encoder_state(lavis_dir), str(lavis_dir / "blip_model"),
    )
    text_config = CLIPTextConfig.from_dict(read(root / "text_encoder" / "config.json"))
    components = {
        "qformer": qformer,
        "text_encoder": build_and_load(lambda: ContextCLIPTextModel(text_config), lavis_dir / "text_encoder", None),
    }
    for name in ("unet", "vae"):
        cls = model_folder.diffusers_class(index[name][1])
        config = read(root / name / "config.json")
        components[name] = build_and_load(lambda cls=cls, config=config: cls.from_config(config), lavis_dir / name, None)
    for name in ("tokenizer", "scheduler", "image_processor"):
        components[name] = model_folder.load_component(root, name, index[name], None)
    vocab = qformer.embeddings.word_embeddings.num_embeddings
    tokenizer = model_folder.load_qformer_tokenizer(root, qformer_tokenizer, vocab)
    pipe = BlipDiffusionPipeline(**components, qformer_tokenizer=tokenizer, ctx_begin_pos=index.get("ctx_begin_pos", 2))
    pipe.save_pretrained(out)
    return Path(out)

