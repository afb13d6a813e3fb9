"""Export a model folder from the latest checkpoint of a running (or stopped) base run, to probe a long
run part-way.

    .venv/bin/python benchmarks/toy_base_checkpoint.py configs/train/toy_base_latent32.toml OUT_FOLDER [key=value ...]
    .venv/bin/python benchmarks/toy_base_checkpoint.py --part clip configs/train/toy_base.toml OUT_FOLDER [key=value ...]

The run's folder is the config's ``out`` (overrides as for ``blip-diffusion train``). ``--part unet``
(the default) writes a base model folder (for ``toy_base_classes.py``, ``blip-diffusion toybench
--base-model``) and needs the run's CLIP and VAE finished; ``--part clip`` writes a CLIP folder (for
``toy_clip_probe.py``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import load_file
from transformers import CLIPModel

from blip_diffusion.training.base import BaseConfig, clip_config, export_base, unet_config
from blip_diffusion.training.base_tasks import load_text_encoder, save_clip
from blip_diffusion.training.checkpoint import checkpoint_dirs
from blip_diffusion.training.config import load
from blip_diffusion.training.toy_tokenizers import toy_clip_tokenizer


def latest_checkpoint(part_folder: Path) -> Path:
    checkpoints = checkpoint_dirs(part_folder)
    if not checkpoints:
        raise SystemExit(f"{part_folder} holds no checkpoint yet")
    return checkpoints[-1]


def export_clip(config: BaseConfig, out: Path) -> Path:
    checkpoint = latest_checkpoint(Path(config.out) / "clip")
    tokenizer = toy_clip_tokenizer()
    model = CLIPModel(clip_config(config.clip, tokenizer, config.data.resolution))
    model.load_state_dict(load_file(checkpoint / "model.safetensors"))
    save_clip(model, tokenizer, out)
    return checkpoint


def export_unet(config: BaseConfig, out: Path) -> Path:
    run = Path(config.out)
    checkpoint = latest_checkpoint(run / "unet")
    vae = AutoencoderKL.from_pretrained(run / "vae" / "model")
    hidden = load_text_encoder(run / "clip" / "model").config.hidden_size
    size = config.data.resolution // 2 ** (len(vae.config.block_out_channels) - 1)
    unet = UNet2DConditionModel.from_config(unet_config(config.unet, hidden, vae.config.latent_channels, size))
    unet.load_state_dict(load_file(checkpoint / "model.safetensors"))
    text_encoder = None
    if config.unet.train_text_encoder:  # accelerate numbers the trained modules in the task's order
        text_encoder = load_text_encoder(run / "clip" / "model")
        text_encoder.load_state_dict(load_file(checkpoint / "model_1.safetensors"))
    export_base(unet, vae, run / "clip" / "model", out, text_encoder, config.unet.prediction_type)
    return checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("unet", "clip"), default="unet", help="which part's checkpoint to export")
    parser.add_argument("config", type=Path, help="the run's base config (TOML)")
    parser.add_argument("out", type=Path, help="where to write the model folder")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="the run's config overrides")
    args = parser.parse_args()
    config = load(BaseConfig, args.config, args.overrides)
    checkpoint = (export_clip if args.part == "clip" else export_unet)(config, args.out)
    print(f"{checkpoint.name} -> {args.out}")


if __name__ == "__main__":
    main()
