"""``blip-diffusion train STAGE --config FILE [key=value ...] [--resume]``.

Stages: ``base`` (stage 0, the toy base model: CLIP, image encoder, VAE, UNet), ``stage1`` (BLIP-2's
ITC/ITM/ITG on the Q-Former), ``stage2`` (subject representation learning) and ``controlnet`` (a canny-edge
ControlNet for the base model). Multi-GPU: ``accelerate launch -m
blip_diffusion.cli.main train ...``. See docs/training.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from blip_diffusion.errors import InputError

# stage -> (config class, train function), imported when chosen
STAGES: dict[str, tuple[str, str, str]] = {
    "base": ("blip_diffusion.training.base", "BaseConfig", "train_base"),
    "stage1": ("blip_diffusion.training.stage1", "Stage1Config", "train_stage1"),
    "stage2": ("blip_diffusion.training.stage2", "Stage2Config", "train_stage2"),
    "controlnet": ("blip_diffusion.training.controlnet", "ControlNetConfig", "train_controlnet"),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("stage", choices=sorted(STAGES), help="what to train")
    parser.add_argument("options", nargs=argparse.REMAINDER, metavar="[--config FILE] [key=value ...] [--resume]",
                        help="in any order: --config FILE (TOML/YAML overrides, configs/train/*.toml); key=value "
                             "overrides with dotted keys (run.max_steps=100 out=outputs/x); --resume (continue "
                             "from the newest checkpoint of the output folder); --print-config (print and stop)")


def _options(options: list[str]) -> argparse.Namespace:
    """The options after the stage, in any order (argparse alone cannot mix them with key=value)."""
    parser = argparse.ArgumentParser(prog="blip-diffusion train STAGE", add_help=False)
    parser.add_argument("--config", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--print-config", action="store_true")
    parser.add_argument("overrides", nargs="*")
    try:
        return parser.parse_intermixed_args(options)
    except SystemExit as error:
        raise InputError(f"train: cannot read the options {' '.join(options)!r}: expected "
                         "[--config FILE] [key=value ...] [--resume] [--print-config]") from error


def run(args: argparse.Namespace) -> int:
    import importlib

    from blip_diffusion.training.config import load, to_dict

    options = _options(args.options)
    module_name, config_name, train_name = STAGES[args.stage]
    module = importlib.import_module(module_name)
    config = load(getattr(module, config_name), options.config, options.overrides)
    if options.print_config:
        print(json.dumps(to_dict(config), indent=2))
        return 0
    if Path(config.out).exists() and not Path(config.out).is_dir():
        raise InputError(f"out={config.out} is a file; expected a folder (new, or a run's to resume)")
    model = getattr(module, train_name)(config, resume=options.resume)
    print(f"model: {model}")
    return 0
