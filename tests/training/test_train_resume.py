"""Checkpoints: a run stopped after a checkpoint and resumed ends bit for bit where an uninterrupted run ends."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from blip_diffusion.errors import InputError
from blip_diffusion.training.base import train_base
from blip_diffusion.training.checkpoint import checkpoint_dirs

from .conftest import tiny_base_config

# VAE part only (the fastest), with EMA and gradient accumulation so both are resumed too
EXTRA = ("vae.run.max_steps=2", "vae.run.checkpoint_every=1", "vae.run.ema_decay=0.9",
         "vae.run.gradient_accumulation_steps=2", "vae.run.batch_size=2")


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(out / "vae" / "model" / "diffusion_pytorch_model.safetensors")


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run(tmp_path):
    train_base(tiny_base_config(tmp_path / "full", parts="vae", extra=EXTRA))
    stopped = tmp_path / "stopped"
    train_base(tiny_base_config(stopped, parts="vae", extra=EXTRA))
    import shutil

    shutil.rmtree(stopped / "vae" / "model")  # as if killed after the step-1 checkpoint
    shutil.rmtree(checkpoint_dirs(stopped / "vae")[-1])
    assert [p.name for p in checkpoint_dirs(stopped / "vae")] == ["step-00000001"]
    with pytest.raises(InputError, match="pass --resume"):
        train_base(tiny_base_config(stopped, parts="vae", extra=EXTRA))
    train_base(tiny_base_config(stopped, parts="vae", extra=EXTRA), resume=True)
    assert_same(weights(tmp_path / "full"), weights(stopped))


SCRIPT = """
import argparse, sys
from blip_diffusion.cli import train
parser = argparse.ArgumentParser()
train.add_arguments(parser)
sys.exit(train.run(parser.parse_args(sys.argv[1:])))
"""


def launch(out: Path, resume: bool) -> subprocess.Popen:
    overrides = [f"out={out}", "parts=vae", "data.resolution=32", "vae.block_out_channels=8,16",
                 "vae.run.max_steps=8", "vae.run.checkpoint_every=2", "vae.run.batch_size=2",
                 "vae.run.learning_rate=0.001", "vae.run.lr_schedule=constant", "vae.run.log_with=none"]
    args = [sys.executable, "-c", SCRIPT, "base", *overrides, *(["--resume"] if resume else [])]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path):
    assert launch(tmp_path / "full", False).wait(timeout=600) == 0
    killed = tmp_path / "killed"
    process = launch(killed, False)
    deadline = time.time() + 600
    while not checkpoint_dirs(killed / "vae") and time.time() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    found = checkpoint_dirs(killed / "vae")
    assert found and not (killed / "vae" / "model").exists()
    assert launch(killed, True).wait(timeout=600) == 0
    assert_same(weights(tmp_path / "full"), weights(killed))
