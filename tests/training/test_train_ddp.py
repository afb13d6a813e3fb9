"""Two processes (DDP on CPU, gloo): torchrun stands in for `accelerate launch --multi_gpu`."""

import os
import subprocess
import sys

import pytest

from blip_diffusion.training.checkpoint import checkpoint_dirs


@pytest.mark.slow
def test_stage2_trains_on_two_processes(tmp_path, tiny_base, tiny_stage1):
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "blip_diffusion.cli.main",
               "train", "stage2", f"out={out}", f"base_model={tiny_base}", f"stage1_model={tiny_stage1}",
               "data.resolution=32", "run.max_steps=2", "run.batch_size=2", "run.log_with=none",
               "class_text_to_qformer=false"]  # leaves the Q-Former's text weights out of the graph
    done = subprocess.run(command, env={**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "model" / "model_index.json").is_file()
    assert {p.name for p in checkpoint_dirs(out)[-1].iterdir()} >= {"random_states_0.pkl", "random_states_1.pkl"}
