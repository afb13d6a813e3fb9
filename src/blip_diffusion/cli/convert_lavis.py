"""``blip-diffusion convert-lavis``: a LAVIS checkpoint folder -> a model folder in the official layout."""

from __future__ import annotations

import argparse

from blip_diffusion.cli.common import output_folder
from blip_diffusion.pipelines.convert import convert_lavis_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("lavis_dir", help="LAVIS folder with blip_model/, proj_layer/, unet/, vae/, text_encoder/")
    parser.add_argument("--config-from", default="Salesforce/blipdiffusion",
                        help="model folder or Hub id giving the configs, tokenizers and scheduler")
    parser.add_argument("--qformer-tokenizer", default=None, help="folder of the Q-Former's BERT tokenizer")
    parser.add_argument("--out", type=output_folder, required=True, help="output model folder")


def run(args: argparse.Namespace) -> int:
    out = convert_lavis_folder(args.lavis_dir, args.config_from, args.out, args.qformer_tokenizer)
    print(f"wrote {out}")
    return 0
