"""``blip-diffusion train STAGE --config FILE [key=value ...] [--resume]``.

Stages: ``base`` (stage 0, the toy base model: CLIP, VAE, UNet), ``stage1`` (BLIP-2's ITC/ITM/ITG on
the Q-Former) and ``stage2`` (subject representation learning). Multi-GPU: ``accelerate launch -m
blip_diffusion.cli.main train ...``. See docs/training.md.
"""

from __future__ import annotations

import argparse
import json

# stage -> (config class, train function), imported when chosen
STAGES: dict[str, tuple[str, str, str]] = {
    "base": ("blip_diffusion.training.base", "BaseConfig", "train_base"),
    "stage1": ("blip_diffusion.training.stage1", "Stage1Config", "train_stage1"),
    "stage2": ("blip_diffusion.training.stage2", "Stage2Config", "train_stage2"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", choices=sorted(STAGES), help="what to train")
    parser.add_argument("--config", default=None, help="TOML or YAML file of overrides (configs/train/*.toml)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="further overrides with dotted keys, e.g. run.max_steps=100 out=outputs/x")
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in the output folder")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and stop")


def run(args: argparse.Namespace) -> int:
    import importlib

    from blip_diffusion.training.config import load, to_dict

    module_name, config_name, train_name = STAGES[args.stage]
    module = importlib.import_module(module_name)
    config = load(getattr(module, config_name), args.config, args.overrides)
    if args.print_config:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    model = getattr(module, train_name)(config, resume=args.resume)
    print(f"model: {model}")
    return 0
