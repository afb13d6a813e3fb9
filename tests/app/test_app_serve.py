"""``blip-diffusion serve``: flags, localhost by default, limits passed to the app, a busy port."""

from __future__ import annotations

import argparse
import json
import socket

import pytest

from blip_diffusion.app.limits import Limits
from blip_diffusion.app.sampling import Sampling
from blip_diffusion.cli import serve
from blip_diffusion.errors import InputError
from tests.app.conftest import CONTROLNET_MODEL
from tests.conftest import FIXTURE_MODEL

gr = pytest.importorskip("gradio")


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    serve.add_arguments(parser)
    return parser.parse_args(argv)


def test_serve_binds_to_localhost_and_serves_the_bundled_toy_model_with_its_controlnet(monkeypatch, capsys):
    from blip_diffusion.app import gradio_app

    launched = {}

    def fake_launch(app, ctx, host, port):
        launched.update(host=host, port=port, ctx=ctx)
        return f"http://{host}:{port}/"

    monkeypatch.setattr(gradio_app, "launch", fake_launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)
    assert serve.run(_parse("--max-steps", "8", "--max-upload-mb", "2.5", "--feature-cache", "3")) == 0
    ctx = launched["ctx"]
    assert launched["host"] == "127.0.0.1" and launched["port"] == 7860
    assert ctx.limits == Limits(max_steps=8, max_upload_mb=2.5) and ctx.examples_dir == serve.EXAMPLES_DIR
    assert ctx.model == str(serve.BUNDLED_MODEL) and ctx.qformer_tokenizer is None  # the toy model's own
    assert ctx.control_pipe.unet is ctx.pipe.unet  # its ControlNet on the shared components
    assert ctx.pipe.embedding_cache is not None and ctx.control_pipe.embedding_cache is not None
    assert ctx.pipe.feature_cache.interval == 3 and ctx.control_pipe.feature_cache.interval == 3
    assert ctx.pipe.feature_cache.unet is ctx.control_pipe.feature_cache.unet
    assert Sampling("", 0, 2, 7.5, 64, 64, 1).settings(ctx.pipe)["feature_cache"] == 3
    assert ctx.subjects_dir == ctx.out_dir / "subjects"
    assert "serving http://127.0.0.1:7860/ (API: http://127.0.0.1:7860/?view=api)" in capsys.readouterr().out


def test_a_busy_port_or_a_bad_limit_is_an_input_error(monkeypatch, pipe):
    monkeypatch.setattr(serve, "load_pipeline", lambda args: pipe)
    with pytest.raises(InputError, match="--max-images must be positive"):
        serve.run(_parse("--max-images", "0"))
    with pytest.raises(InputError, match="--feature-cache must be 0"):
        serve.run(_parse("--feature-cache", "-2"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=f"--port {port}: cannot listen there"):
            serve.run(_parse("--model", str(FIXTURE_MODEL), "--port", str(port)))


def test_a_controlnet_of_another_base_model_is_refused(pipe):
    with pytest.raises(InputError, match="controlnet does not fit this UNet"):
        serve.load_control_pipeline(_parse(), pipe)  # the toy model's ControlNet, the fixture's UNet


def test_a_model_without_a_controlnet_gets_no_control_pipeline(pipe):
    assert serve.load_control_pipeline(_parse("--model", str(FIXTURE_MODEL)), pipe) is None


def test_a_model_with_several_controlnets_must_name_one(pipe, tmp_path):
    index = json.loads((CONTROLNET_MODEL / "model_index.json").read_text())
    (tmp_path / "model_index.json").write_text(json.dumps({**index, "controlnet_1": index["controlnet"]}))
    with pytest.raises(InputError, match=f"has 2 ControlNets .* --controlnet {tmp_path / 'controlnet'}"):
        serve.load_control_pipeline(_parse("--model", str(tmp_path)), pipe)
