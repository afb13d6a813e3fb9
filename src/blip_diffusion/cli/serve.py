"""``blip-diffusion serve``: the web UI and its HTTP API (Gradio), on localhost unless told otherwise."""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import fields
from pathlib import Path

from blip_diffusion.app.context import AppContext
from blip_diffusion.app.limits import Limits, flag
from blip_diffusion.cli.common import REPO_ROOT, add_model_arguments, load_pipeline
from blip_diffusion.errors import InputError

LOCALHOST = "127.0.0.1"
EXAMPLES_DIR = REPO_ROOT / "assets" / "dreambench"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--host", default=LOCALHOST,
                        help=f"address to listen on (default {LOCALHOST}: this machine only; "
                             "0.0.0.0: the network)")
    parser.add_argument("--port", type=int, default=7860, help="port to listen on")
    parser.add_argument("--out", default=None,
                        help="keep generated images and subject files here "
                             "(default: a temporary folder, removed on exit)")
    for item in fields(Limits):
        parser.add_argument(f"--{flag(item.name)}", type=type(item.default), default=item.default,
                            help=f"{item.metadata['help']} (default {item.default})")


def run(args: argparse.Namespace) -> int:
    # Imported here: gradio is needed by this command only, and takes seconds to import.
    from blip_diffusion.app.gradio_app import build_app, launch

    limits = Limits(**{item.name: getattr(args, item.name) for item in fields(Limits)})
    pipe = load_pipeline(args)
    with tempfile.TemporaryDirectory(prefix="blip-diffusion-serve-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        ctx = AppContext(pipe, limits, out, EXAMPLES_DIR if EXAMPLES_DIR.is_dir() else None)
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
