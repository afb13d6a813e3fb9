"""The toyworld and toybench commands: bad input is refused with a one-line error, and each action
writes what it promises (toybench through the real PipelineGenerator with a stand-in pipeline)."""

from __future__ import annotations

import argparse
import json

import pytest
from PIL import Image

from blip_diffusion.cli import toybench, toyworld
from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.pipeline_generator import PipelineGenerator
from blip_diffusion.evaluation.report import REPORT_JSON
from tests.conftest import ASSETS
from tests.toyworld.conftest import ORACLE

TOY_MODEL = ASSETS / "models" / "toy" / "blip-diffusion"  # a model folder; the tests stand in for its pipeline


def _run(module, argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    module.add_arguments(parser)
    return module.run(parser.parse_args(argv))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--samples-per-prompt", "0"], "--samples-per-prompt must be at least 1, got 0"),
        (["--subjects", "0"], "--subjects must be 1 to 100, got 0"),
        (["--subjects", "101"], "--subjects must be 1 to 100, got 101"),
        (["--resolution", "20"], "--resolution must be a multiple of 8"),
        (["--steps", "0"], "--steps must be at least 1, got 0"),
        (["--oracle", "missing.safetensors"], "missing.safetensors' does not exist"),
        ([], "model not found: m is neither a model folder nor a Hub repo id"),
        (["--model", str(TOY_MODEL), "--base-model", "./base"], "model not found: ./base"),
    ],
)
def test_toybench_refuses_bad_input(tmp_path, argv, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        _run(toybench, ["--model", "m", "--out", str(tmp_path / "out"), "--device", "cpu", *argv])
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dataset", "captions", "--count", "0"], "--count must be at least 1, got 0"),
        (
            ["dataset", "captions", "--count", "2", "--resolution", "8"],
            "--resolution must be at least 16, got 8",
        ),
        (["examples", "--resolution", "4"], "--resolution must be at least 16, got 4"),
        (["train-oracle", "--steps", "0"], "--steps must be at least 1, got 0"),
    ],
)
def test_toyworld_refuses_bad_input(tmp_path, argv, message):
    out = tmp_path / ("x.safetensors" if argv[0] == "train-oracle" else "x")
    with pytest.raises(InputError, match=message):
        _run(toyworld, [*argv, "--out", str(out)])
    assert not out.exists()


def test_train_oracle_wants_a_safetensors_file(tmp_path):
    with pytest.raises(InputError, match="--out must name a .safetensors file"):
        _run(toyworld, ["train-oracle", "--out", str(tmp_path / "oracle.pt")])


def test_dataset_and_examples_are_written(tmp_path, capsys):
    assert (
        _run(
            toyworld,
            ["dataset", "subjects", "--out", str(tmp_path / "s"), "--count", "3", "--resolution", "32"],
        )
        == 0
    )
    lines = (tmp_path / "s" / "metadata.jsonl").read_text().splitlines()
    record = json.loads(lines[2])
    assert len(lines) == 3 and record["caption"].endswith(record["prompt"][len(f"a {record['class']}") :])
    assert Image.open(tmp_path / "s" / record["mask"]).size == (32, 32)
    assert _run(toyworld, ["examples", "--out", str(tmp_path / "e"), "--resolution", "32"]) == 0
    assert Image.open(tmp_path / "e" / "world.png").size == (12 * 64, 10 * 64)


def test_train_oracle_writes_weights_and_accuracy(tmp_path):
    out = tmp_path / "oracle.safetensors"
    argv = ["train-oracle", "--out", str(out), "--steps", "2", "--batch-size", "8", "--pictures", "16"]
    assert _run(toyworld, [*argv, "--workers", "1", "--held-out", "10"]) == 0
    record = json.loads(out.with_suffix(".accuracy.json").read_text())
    assert out.is_file() and record["held_out_pictures"] == 10 and record["training"]["steps"] == 2


class StandInPipeline:
    """Answers with the subject's first reference photo; records what it was asked."""

    def __init__(self):
        self.calls = []

    def encode_subject(self, photos, category):
        return list(photos)

    def __call__(self, reference_image, **kwargs):
        self.calls.append(kwargs)
        with Image.open(reference_image[0]) as photo:
            return type("Output", (), {"images": [photo.convert("RGB") for _ in kwargs["prompt"]]})()


def test_toybench_end_to_end_and_resumed(tmp_path, monkeypatch, capsys):
    pipe = StandInPipeline()
    made = []

    def from_pretrained(model, photos, settings, qformer_tokenizer, dtype, device):
        made.append((model, settings.height, settings.num_inference_steps))
        return PipelineGenerator(pipe, photos, settings)

    monkeypatch.setattr(PipelineGenerator, "from_pretrained", staticmethod(from_pretrained))
    argv = [
        "--model",
        str(TOY_MODEL),
        "--out",
        str(tmp_path),
        "--subjects",
        "1",
        "--samples-per-prompt",
        "1",
        "--steps",
        "3",
    ]
    assert _run(toybench, [*argv, "--oracle", str(ORACLE), "--device", "cpu", "--no-progress"]) == 0
    assert made == [(str(TOY_MODEL), 64, 3)]
    targets = [(call["target_subject_category"], call["prompt"]) for call in pipe.calls]
    assert targets[2] == ("star", ["on the beach"]) and targets[21] == ("striped", ["star"])
    report = json.loads((tmp_path / REPORT_JSON).read_text())
    assert report["rows"]["blip_diffusion"]["all"]["copy"] >= 0.95  # it pasted its reference photo
    assert "blip_diffusion: subject fidelity" in capsys.readouterr().out

    assert _run(toybench, [*argv, "--oracle", str(ORACLE), "--device", "cpu", "--no-progress"]) == 0
    assert made == [(str(TOY_MODEL), 64, 3)]  # everything was there: the model was not loaded again
