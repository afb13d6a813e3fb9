"""ToyBench's fine-tuned rows on the tiny models: BLIP-Diffusion fine-tuned per subject and the
DreamBooth-style baseline, each fine-tuned once per subject, timed, and kept on resume."""

import argparse
import json

import numpy as np
import pytest
from PIL import Image

from blip_diffusion.cli import toybench
from blip_diffusion.evaluation.dreambench import Prompt
from blip_diffusion.evaluation.finetuned_generators import TIMING_FILE, dreambooth_text
from blip_diffusion.evaluation.report import REPORT_JSON, REPORT_MD
from blip_diffusion.evaluation.worklist import GenerationRequest
from blip_diffusion.pipelines.finetuned_subject import FINETUNE_FILE
from blip_diffusion.training.stage2 import train_stage2

from .conftest import tiny_stage2_config

pytest.importorskip("peft")


def _run(argv):
    parser = argparse.ArgumentParser()
    toybench.add_arguments(parser)
    return toybench.run(parser.parse_args(argv))


def test_dreambooth_text_puts_the_identifier_before_the_class_word():
    request = GenerationRequest("s", "star", Prompt(0, "a {class} on the beach"), 0, 0)
    assert dreambooth_text(request) == "a sks star on the beach"


def test_fine_tuned_rows_end_to_end_and_resumed(tmp_path, tiny_base, tiny_stage1):
    model = train_stage2(tiny_stage2_config(tmp_path / "stage2", tiny_base, tiny_stage1, steps=1))
    out = tmp_path / "bench"
    argv = ["--model", str(model), "--base-model", str(tiny_base), "--out", str(out), "--subjects", "1",
            "--samples-per-prompt", "1", "--steps", "2", "--resolution", "32", "--device", "cpu", "--no-progress",
            "--finetune-steps", "1", "--dreambooth-steps", "1", "--finetune-lr", "0.05", "--prompt-reps", "2"]
    assert _run(argv) == 0
    report = json.loads((out / REPORT_JSON).read_text())
    assert report["rows"]["ground_truth_vae"]["all"]["images"] == 25  # renders through the base model's VAE
    for row, method in (("blip_diffusion_finetuned_1", "blip-diffusion"), ("dreambooth_1", "dreambooth")):
        assert report["rows"][row]["finetune_steps"] == 1 and report["rows"][row]["finetune_seconds"] > 0
        (folder,) = (out / "finetuned" / f"{method}-1").iterdir()
        info = json.loads((folder / FINETUNE_FILE).read_text())
        assert info["method"] == method and info["steps"] == 1
    assert json.loads((folder / FINETUNE_FILE).read_text())["caption"] == "a sks star"
    tuned = next((out / "finetuned" / "blip-diffusion-1").iterdir())
    assert json.loads((tuned / FINETUNE_FILE).read_text())["caption"] == "a star, a star"
    assert "fine-tuning s/subject" in (out / REPORT_MD).read_text()

    def pictures(row):
        return np.stack([np.asarray(Image.open(p)) for p in sorted((out / row).rglob("*.png"))
                         if p.parent.name != "grids" and p.name != "overview.png"])

    assert not np.array_equal(pictures("dreambooth_1"), pictures("class_only"))
    assert not np.array_equal(pictures("blip_diffusion_finetuned_1"), pictures("blip_diffusion"))

    timing = (tuned / TIMING_FILE).stat().st_mtime_ns
    for picture in (out / "dreambooth_1").rglob("*.png"):
        picture.unlink()
    assert _run(argv) == 0  # the missing pictures are drawn again; no subject is fine-tuned again
    assert (tuned / TIMING_FILE).stat().st_mtime_ns == timing
    assert json.loads((out / REPORT_JSON).read_text())["rows"]["dreambooth_1"]["all"]["images"] == 25


def test_rows_need_their_models(tmp_path):
    from blip_diffusion.errors import InputError

    with pytest.raises(InputError, match="--dreambooth-steps needs --base-model"):
        _run(["--model", "m", "--out", str(tmp_path / "o"), "--dreambooth-steps", "40", "--device", "cpu"])
    with pytest.raises(InputError, match="--finetune-steps needs --model"):
        _run(["--base-model", "b", "--out", str(tmp_path / "o"), "--finetune-steps", "40", "--device", "cpu"])
    with pytest.raises(InputError, match="needs --model .BLIP-Diffusion., --base-model"):
        _run(["--out", str(tmp_path / "o"), "--device", "cpu"])
    assert not (tmp_path / "o").exists()
