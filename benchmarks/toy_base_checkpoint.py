"""Export a base model folder from the latest UNet checkpoint of a running (or stopped) base run, to
probe a long run part-way (``toy_base_classes.py``, ``blip-diffusion toybench --base-model``).

    .venv/bin/python benchmarks/toy_base_checkpoint.py configs/train/toy_base_latent32.toml OUT_FOLDER [key=value ...]

The run's folder is the config's ``out`` (overrides as for ``blip-diffusion train``); its CLIP and
VAE must be finished.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from diffusers import AutoencoderKL, UNet2DConditionModel
from safetensors.torch import load_file

from blip_diffusion.training.base import BaseConfig, export_base, unet_config
from blip_diffusion.training.base_tasks import load_text_encoder
from blip_diffusion.training.checkpoint import checkpoint_dirs
from blip_diffusion.training.config import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", type=Path, help="the run's base config (TOML)")
    parser.add_argument("out", type=Path, help="where to write the model folder")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="the run's config overrides")
    args = parser.parse_args()
    config = load(BaseConfig, args.config, args.overrides)
    run = Path(config.out)
    checkpoints = checkpoint_dirs(run / "unet")
    if not checkpoints:
        raise SystemExit(f"{run / 'unet'} holds no checkpoint yet")
    vae = AutoencoderKL.from_pretrained(run / "vae" / "model")
    hidden = load_text_encoder(run / "clip" / "model").config.hidden_size
    size = config.data.resolution // 2 ** (len(vae.config.block_out_channels) - 1)
    unet = UNet2DConditionModel.from_config(unet_config(config.unet, hidden, vae.config.latent_channels, size))
    unet.load_state_dict(load_file(checkpoints[-1] / "model.safetensors"))
    text_encoder = None
    if config.unet.train_text_encoder:  # accelerate numbers the trained modules in the task's order
        text_encoder = load_text_encoder(run / "clip" / "model")
        text_encoder.load_state_dict(load_file(checkpoints[-1] / "model_1.safetensors"))
    export_base(unet, vae, run / "clip" / "model", args.out, text_encoder)
    print(f"{checkpoints[-1].name} -> {args.out}")


if __name__ == "__main__":
    main()
