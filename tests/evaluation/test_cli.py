"""``eval dreambench`` from the command line: bad input, and a tiny full run with the fixture model."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from blip_diffusion.cli import eval as eval_command
from blip_diffusion.errors import InputError
from tests.evaluation.conftest import BLIP_MODEL, CLIP_MODEL, DINO_MODEL, DREAMBENCH, QFORMER_TOKENIZER


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    return parser.parse_args(list(argv))


def _tiny_argv(out, *extra: str) -> list[str]:
    """Two subjects x 2 prompts x 1 image, 2 steps at 64x64, tiny metric models."""
    return [
        "dreambench",
        "--model",
        str(BLIP_MODEL),
        "--qformer-tokenizer",
        str(QFORMER_TOKENIZER),
        "--data",
        str(DREAMBENCH),
        "--out",
        str(out),
        "--subjects",
        "dog",
        "teapot",
        "--images-per-prompt",
        "1",
        "--max-prompts",
        "2",
        "--steps",
        "2",
        "--size",
        "64x64",
        "--dino-model",
        str(DINO_MODEL),
        "--clip-model",
        str(CLIP_MODEL),
        "--no-progress",
        *extra,
    ]


def _tiny(out, *extra: str) -> argparse.Namespace:
    return _args(*_tiny_argv(out, *extra))


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
    assert (config.generation.width, config.generation.height, config.generation.scheduler) == (
        512,
        512,
        "pndm",
    )
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
    assert images == [
        "images/dog/00_00.png",
        "images/dog/01_00.png",
        "images/teapot/00_00.png",
        "images/teapot/01_00.png",
    ]
    report = json.loads((out / "report.json").read_text())
    assert report["subjects"] == ["dog", "teapot"] and report["scores"]["images"] == 4
    assert {"grids", "report.md", "generation.json"} <= {p.name for p in out.iterdir()}

    stamps = {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")}
    assert eval_command.run(_tiny(out)) == 0  # resumes: nothing left to generate, same scores
    assert {p: p.stat().st_mtime_ns for p in (out / "images").rglob("*.png")} == stamps
    assert json.loads((out / "report.json").read_text())["images"] == report["images"]
    assert "num_inference_steps: 2 there, 3 now" in _input_error(_tiny(out, "--steps", "3"))


LAUNCHED = """
import argparse, logging, sys
logging.basicConfig(level=logging.INFO)
from blip_diffusion.cli import eval as eval_command
parser = argparse.ArgumentParser()
eval_command.add_arguments(parser)
sys.exit(eval_command.run(parser.parse_args(sys.argv[1:])))
"""


@pytest.mark.slow
def test_two_processes_share_the_work_and_match_one(tmp_path):
    """torchrun stands in for `accelerate launch --multi_gpu` (which launches through it) on CPU."""
    pytest.importorskip("blip_diffusion.pipelines.blip_diffusion")
    single, sharded = tmp_path / "single", tmp_path / "sharded"
    assert eval_command.run(_tiny(single)) == 0
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--no-python",
        sys.executable,
        "-c",
        LAUNCHED,
        *_tiny_argv(sharded),
    ]
    done = subprocess.run(
        command,
        env={**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("2 to generate") == 2  # each process made half of the 4 images
    for image in (single / "images").rglob("*.png"):  # 1 vs 2 threads: float rounding may flip a level
        one, two = (np.asarray(Image.open(p), np.int16) for p in (image, sharded / image.relative_to(single)))
        assert np.abs(one - two).max() <= 1
    scores = [json.loads((folder / "report.json").read_text())["scores"] for folder in (single, sharded)]
    assert scores[0] == pytest.approx(scores[1], abs=1e-3)


def test_fine_tuned_run_fine_tunes_each_subject_once_and_reports_the_time(tmp_path, capsys):
    pytest.importorskip("peft")
    out = tmp_path / "tuned"
    argv = ("--finetune-steps", "1", "--finetune-lr", "0.05", "--subjects", "dog")
    assert eval_command.run(_tiny(out, *argv)) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["finetune"]["steps"] == 1 and report["settings"]["finetune_seconds_per_subject"] > 0
    assert [p.name for p in (out / "finetuned").iterdir()] == ["dog"]
    zero_shot = tmp_path / "zero"
    assert eval_command.run(_tiny(zero_shot, "--subjects", "dog")) == 0
    image = "images/dog/00_00.png"
    assert (out / image).read_bytes() != (zero_shot / image).read_bytes()
    assert "finetune: None there" in _input_error(_tiny(zero_shot, *argv))  # not mixed with the zero-shot run
    assert "LoRA rank >= 0" in _input_error(_tiny(out, "--finetune-steps", "1", "--lora-rank", "-1"))
