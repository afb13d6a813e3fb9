"""``blip-diffusion serve``: the web UI and its HTTP API (Gradio), on localhost unless told otherwise."""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import fields
from pathlib import Path

from blip_diffusion.app.context import AppContext
from blip_diffusion.app.limits import Limits, flag
from blip_diffusion.cli.common import (
    BUNDLED_MODEL,
    DTYPES,
    REPO_ROOT,
    add_feature_cache_argument,
    add_model_arguments,
    check_feature_cache,
    load_pipeline,
    output_folder,
)
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines import model_folder
from blip_diffusion.pipelines.blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.pipelines.controlnet import (
    CONTROLNET_ENTRY,
    BlipDiffusionControlNetPipeline,
    load_controlnet,
    load_controlnets,
)

LOCALHOST = "127.0.0.1"
EXAMPLES_DIR = REPO_ROOT / "assets" / "dreambench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--controlnet", default=None, metavar="FOLDER",
                        help="a diffusers ControlNet folder or Hub id for structure control and style "
                             "transfer (default: the model's own ControlNet, if it has one)")
    parser.add_argument("--host", default=LOCALHOST,
                        help=f"address to listen on (default {LOCALHOST}: this machine only; "
                             "0.0.0.0: the network)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    add_feature_cache_argument(parser)
    parser.add_argument("--out", type=output_folder, default=None,
                        help="keep generated images and subject files here "
                             "(default: a temporary folder, removed on exit)")
    parser.add_argument("--subjects", default=None,
                        help="folder of fine-tuned subjects, listed and reusable in the UI "
                             "(default: OUT/subjects)")
    for item in fields(Limits):
        parser.add_argument(f"--{flag(item.name)}", type=type(item.default), default=item.default,
                            help=f"{item.metadata['help']} (default {item.default})")


def run(args: argparse.Namespace) -> int:
    # Imported here: gradio is needed by this command only, and takes seconds to import.
    from blip_diffusion.app.gradio_app import build_app, launch

    limits = Limits(**{item.name: getattr(args, item.name) for item in fields(Limits)})
    feature_cache = check_feature_cache(args.feature_cache)
    pipe = load_pipeline(args)
    control_pipe = load_control_pipeline(args, pipe)
    for each in (pipe, control_pipe):
        if each is not None:
            each.enable_embedding_cache()  # requests often repeat a subject or a prompt
            if feature_cache:
                each.enable_feature_cache(feature_cache)
    if control_pipe is None:
        print("no ControlNet: the structure control and style transfer tabs are off (see --controlnet)")
    with tempfile.TemporaryDirectory(prefix="blip-diffusion-serve-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        ctx = AppContext(
            pipe, limits, out, EXAMPLES_DIR if EXAMPLES_DIR.is_dir() else None, control_pipe,
            model=str(args.model or BUNDLED_MODEL),
            qformer_tokenizer=str(args.qformer_tokenizer) if args.qformer_tokenizer else None,
            subjects_dir=Path(args.subjects) if args.subjects else out / "subjects",
        )
        app = build_app(ctx)
        try:
            url = launch(app, ctx, args.host, args.port)
        except OSError as error:
            message = f"--host {args.host} --port {args.port}: cannot listen there ({error})"
            raise InputError(message) from error
        if args.host != LOCALHOST:
            print(f"listening on {args.host}: anyone who can reach this machine can use the server")
        print(f"serving {url} (API: {url}?view=api); Ctrl-C stops")
        app.block_thread()
    return 0


def load_control_pipeline(
    args: argparse.Namespace, pipe: BlipDiffusionPipeline
) -> BlipDiffusionControlNetPipeline | None:
    """``pipe`` plus the --controlnet ControlNet, or its model folder's own (the bundled model's when no
    --model); None when there is none. The tabs give one control map: one ControlNet."""
    dtype = DTYPES[args.dtype]
    if args.controlnet:
        controlnet = load_controlnet(args.controlnet, dtype)
    else:
        root = model_folder.resolve_model_folder(args.model) if args.model else BUNDLED_MODEL
        names = sorted(filter(CONTROLNET_ENTRY.fullmatch, model_folder.read_model_index(root)))
        if not names:
            return None
        if len(names) > 1:
            raise InputError(f"{root} has {len(names)} ControlNets ({', '.join(names)}); the web UI drives "
                             f"one: choose it with --controlnet {root / names[0]}")
        controlnet = load_controlnets(root, dtype)
    return BlipDiffusionControlNetPipeline.from_base(pipe, controlnet).to(pipe.device)
