"""``eval dreambench`` from the command line: bad input, and a tiny full run with the fixture model."""

from __future__ import annotations

import argparse
import json

import pytest

from blip_diffusion.cli import eval as eval_command
from blip_diffusion.errors import InputError
from tests.evaluation.conftest import BLIP_MODEL, CLIP_MODEL, DINO_MODEL, DREAMBENCH, QFORMER_TOKENIZER


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _tiny(out, *extra: str) -> argparse.Namespace:
    return _args(
        "dreambench", "--model", str(BLIP_MODEL), "--qformer-tokenizer", str(QFORMER_TOKENIZER),
        "--data", str(DREAMBENCH), "--out", str(out), "--subjects", "dog", "teapot", "--images-per-prompt", "1",
        "--max-prompts", "2", "--steps", "2", "--size", "64x64", "--dino-model", str(DINO_MODEL),
        "--clip-model", str(CLIP_MODEL), "--no-progress", *extra,
    )


def _input_error(args: argparse.Namespace) -> str:
    with pytest.raises(InputError) as info:
        eval_command.run(args)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_defaults_follow_the_protocol(tmp_path):
    args = _args("dreambench", "--model", "m", "--data", "d", "--out", "o")
    config = eval_command.config_from_args(args)
    assert (config.images_per_prompt, config.max_prompts, config.seed) == (4, None, 0)
    assert (config.generation.num_inference_steps, config.generation.guidance_scale) == (50, 7.5)
    assert (config.generation.width, config.generation.height, config.generation.scheduler) == (512, 512, "pndm")
    assert (config.dino_model, config.clip_model) == ("facebook/dino-vits16", "openai/clip-vit-base-patch32")
    with pytest.raises(SystemExit):
        _args("--model", "m")  # the benchmark name comes first


def test_bad_input_is_one_line(tmp_path, capsys):
    assert str(tmp_path / "nope") in _input_error(_tiny(tmp_path / "out", "--data", str(tmp_path / "nope")))
    message = _input_error(_tiny(tmp_path / "out", "--subjects", "dog", "dogg"))
    assert "dogg" in message and "backpack" in message and "wolf_plushie" in message
    assert "--images-per-prompt" in _input_error(_tiny(tmp_path / "out", "--images-per-prompt", "0"))
    assert "--steps" in _input_error(_tiny(tmp_path / "out", "--steps", "0"))
    assert not (tmp_path / "out").exists()


def test_tiny_full_run_then_resume(tmp_path, capsys):
    pytest.importorskip("blip_diffusion.pipelines.blip_diffusion")
    out = tmp_path / "run"
    assert eval_command.run(_tiny(out)) == 0
    printed = capsys.readouterr().out
    assert "4 images of 2 subjects: DINO" in printed and "report.md" in printed
    images = sorted(p.relative_to(out).as_posix() for p in (out / "images").rglob("*.png"))
    assert images == ["images/dog/00_00.png", "images/dog/01_00.png", "images/teapot/00_00.png",
                      "images/teapot/01_00.png"]
    report = json.loads((out / "report.json").read_text())
    assert report["subjects"] == ["dog", "teapot"] and report["scores"]["images"] == 4
    assert {"grids", "report.md", "generation.json"} <= {p.name for p in out.iterdir()}

    stamps = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    assert eval_command.run(_tiny(out)) == 0  # resumes: nothing left to generate, same scores
    assert {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")} == stamps
    assert json.loads((out / "report.json").read_text())["images"] == report["images"]
    assert "num_inference_steps: 2 there, 3 now" in _input_error(_tiny(out, "--steps", "3"))
