"""Subject fine-tuning on the fixture model: a small LoRA folder that pipe.load_subject loads."""

import argparse
import importlib.util
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from blip_diffusion import BlipDiffusionPipeline
from blip_diffusion.cli import finetune as finetune_cli
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines.finetuned_subject import FINETUNE_FILE, LORA_FILE, SUBJECT_FILE
from blip_diffusion.training.config import build
from blip_diffusion.training.finetune import FinetuneTask, finetune, load_base

from .conftest import DREAMBENCH, FIXTURE_MODEL, QFORMER_TOKENIZER, fit

pytest.importorskip("peft")  # LoRA; an optional dependency until it joins pyproject.toml

PHOTOS = [str(p) for p in sorted((DREAMBENCH / "dog").glob("*.jpg"))[:3]]


def config(tmp_path, **values):
    values = {"model": str(FIXTURE_MODEL), "subject": PHOTOS, "subject_class": "dog", "out": str(tmp_path / "dog"),
              "qformer_tokenizer": str(QFORMER_TOKENIZER), **values}
    values["run"] = {"max_steps": 2, "batch_size": 2, **values.get("run", {})}
    return build(__import__("blip_diffusion.training.finetune", fromlist=["FinetuneConfig"]).FinetuneConfig, values)


def generate(pipe, subject):
    return pipe("on the beach", subject, num_inference_steps=2, height=64, width=64, output_type="np",
                generator=torch.Generator().manual_seed(0), guidance_scale=1.0).images


def test_finetune_loss_falls(tmp_path):
    torch.manual_seed(0)
    task = FinetuneTask(config(tmp_path, lora_rank=0, learning_rate=1e-3), load_base(config(tmp_path)), torch.device("cpu"))
    losses = fit(task, 6, 1e-3, batch_size=3)
    assert losses[-1] < 0.7 * losses[0], losses


def test_lora_subject_folder_loads_and_changes_generation(tmp_path):
    out = finetune(config(tmp_path, run={"max_steps": 2}, learning_rate=1e-2))
    assert {p.name for p in out.iterdir()} == {FINETUNE_FILE, SUBJECT_FILE, LORA_FILE}
    assert sum(p.stat().st_size for p in out.iterdir()) < 5_000_000
    assert json.loads((out / FINETUNE_FILE).read_text())["caption"] == "a dog"
    pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    pipe.set_progress_bar_config(disable=True)
    zero_shot = generate(pipe, pipe.encode_subject(PHOTOS, "dog"))
    subject = pipe.load_subject(out)
    tuned = generate(pipe, subject)
    assert np.abs(tuned - zero_shot).max() > 1e-3
    again = generate(pipe, pipe.load_subject(out))  # reloading replaces the adapter: same pictures
    assert np.array_equal(tuned, again)


def test_full_unet_and_dreambooth_outputs(tmp_path):
    full = finetune(config(tmp_path, lora_rank=0, out=str(tmp_path / "full")))
    assert (full / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    booth = finetune(config(tmp_path, method="dreambooth", out=str(tmp_path / "booth")))
    info = json.loads((booth / FINETUNE_FILE).read_text())
    assert info["caption"] == "a sks dog" and not (booth / SUBJECT_FILE).exists()
    pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    with pytest.raises(InputError, match="has no subject embeddings"):
        pipe.load_subject(booth)
    before = generate(pipe, pipe.encode_subject(PHOTOS, "dog"))
    after = generate(pipe, pipe.load_subject(full))
    assert np.abs(after - before).max() > 0


def test_cli_flags_map_onto_the_config(tmp_path, monkeypatch):
    parser = argparse.ArgumentParser()
    finetune_cli.add_arguments(parser)
    seen = {}
    monkeypatch.setattr("blip_diffusion.training.finetune.finetune", lambda c, resume: seen.setdefault("c", c) and tmp_path)
    args = parser.parse_args(["--model", "m", "--subject", "a.png", "b.png", "--subject-class", "dog", "--out", "o",
                              "--steps", "7", "--full-unet", "--method", "dreambooth"])
    assert finetune_cli.run(args) == 0
    made = seen["c"]
    assert (made.run.max_steps, made.lora_rank, made.method, made.subject) == (7, 0, "dreambooth", ("a.png", "b.png"))
    assert made.run.batch_size == 3  # untouched flags keep the config's defaults


def test_dreambooth_lora_loads_into_the_base_text_to_image_pipeline(tmp_path, tiny_base):
    from diffusers import StableDiffusionPipeline

    out = finetune(config(tmp_path, model=str(tiny_base), method="dreambooth", learning_rate=1e-2,
                          out=str(tmp_path / "booth")))
    pipe = StableDiffusionPipeline.from_pretrained(tiny_base)
    pipe.set_progress_bar_config(disable=True)

    def draw():
        return pipe("a sks dog", num_inference_steps=2, height=32, width=32, output_type="np",
                    generator=torch.Generator().manual_seed(0)).images

    before = draw()
    pipe.load_lora_weights(out, weight_name=LORA_FILE)
    assert np.abs(draw() - before).max() > 0


def test_prompt_reps_repeat_the_caption():
    values = {"model": "m", "subject": ("p.png",), "subject_class": "dog", "out": "o"}
    from blip_diffusion.training.finetune import FinetuneConfig

    assert build(FinetuneConfig, {**values, "prompt_reps": 3}).caption == "a dog, a dog, a dog"
    assert build(FinetuneConfig, {**values, "method": "dreambooth", "prompt_reps": 2}).caption == "a sks dog, a sks dog"
    with pytest.raises(InputError, match="prompt_reps must be at least 1"):
        build(FinetuneConfig, {**values, "prompt_reps": 0})


def test_checkpoints_only_when_asked(tmp_path):
    default = finetune(config(tmp_path, keep_checkpoints=True, out=str(tmp_path / "default")))
    assert not (default / "checkpoints").exists()
    asked = finetune(config(tmp_path, keep_checkpoints=True, out=str(tmp_path / "asked"), run={"checkpoint_every": 1}))
    assert sorted(p.name for p in (asked / "checkpoints").iterdir()) == ["step-00000001", "step-00000002"]
    with pytest.raises(InputError, match="checkpoint_every must be 0"):
        config(tmp_path, run={"checkpoint_every": -1})


def test_mixed_precision_keeps_frozen_weights_in_its_dtype_and_trained_ones_in_float32(tmp_path):
    cfg = config(tmp_path, run={"mixed_precision": "bf16"})
    task = FinetuneTask(cfg, load_base(cfg), torch.device("cpu"), torch.bfloat16)
    lora = {n: p.dtype for n, p in task.unet.named_parameters() if p.requires_grad}
    frozen = {p.dtype for p in task.unet.parameters() if not p.requires_grad}
    assert lora and set(lora.values()) == {torch.float32} and all("lora" in n for n in lora)
    assert frozen == {torch.bfloat16} and task.text_encoder.dtype == torch.bfloat16
    assert task.subject.embeds.dtype == torch.float32
    pipe = BlipDiffusionPipeline.from_pretrained(FIXTURE_MODEL, qformer_tokenizer=QFORMER_TOKENIZER)
    assert torch.allclose(task.subject.embeds[0], pipe.encode_subject(PHOTOS, "dog").embeds, atol=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, _ = task.loss(task.collate([0, 1]))
    loss.backward()
    assert torch.isfinite(loss) and task.subject.embeds.grad is not None
    out = finetune(cfg)
    assert (out / LORA_FILE).is_file() and (out / SUBJECT_FILE).is_file()


def test_the_log_names_each_phase_as_the_fine_tuning_benchmark_reads_it(tmp_path, caplog):
    script = Path(__file__).parents[2] / "benchmarks" / "bench_finetune.py"
    spec = importlib.util.spec_from_file_location("bench_finetune", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    caplog.set_level(logging.INFO)
    finetune(config(tmp_path))
    log = "\n".join(f"{r.levelname} {r.name}: {r.getMessage()}" for r in caplog.records)
    parts = bench.phases(log, wall=1000.0)
    assert set(parts) == {"load", "set-up", "steps", "export", "start-up"}, log
    assert all(value >= 0 for value in parts.values()) and parts["start-up"] < 1000.0
    setup = bench.setup_parts(log)
    assert set(setup) == {"to device", "photos", "subject"} and sum(setup.values()) <= parts["set-up"]
