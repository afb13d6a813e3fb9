"""``blip-diffusion serve``: flags, localhost by default, limits passed to the app, a busy port."""

from __future__ import annotations

import argparse
import socket

import pytest

from blip_diffusion.app.limits import Limits
from blip_diffusion.cli import serve
from blip_diffusion.errors import InputError

gr = pytest.importorskip("gradio")


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser.parse_args(argv)


def test_serve_binds_to_localhost_and_passes_its_limits(monkeypatch, pipe, capsys):
    from blip_diffusion.app import gradio_app

    launched = {}

    def fake_launch(app, ctx, host, port):
        launched.update(host=host, port=port, limits=ctx.limits, examples=ctx.examples_dir)
        return f"http://{host}:{port}/"

    monkeypatch.setattr(gradio_app, "launch", fake_launch)
    monkeypatch.setattr(serve, "load_pipeline", lambda args: pipe)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    assert serve.run(_parse("--max-steps", "8", "--max-upload-mb", "2.5")) == 0
    assert launched["host"] == "127.0.0.1" and launched["port"] == 7860
    assert launched["limits"] == Limits(max_steps=8, max_upload_mb=2.5)
    assert launched["examples"] == serve.EXAMPLES_DIR
    assert "serving http://127.0.0.1:7860/ (API: http://127.0.0.1:7860/?view=api)" in capsys.readouterr().out


def test_a_busy_port_or_a_bad_limit_is_an_input_error(monkeypatch, pipe):
    monkeypatch.setattr(serve, "load_pipeline", lambda args: pipe)
    with pytest.raises(InputError, match="--max-images must be positive"):
        serve.run(_parse("--max-images", "0"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=f"--port {port}: cannot listen there"):
            serve.run(_parse("--port", str(port)))
