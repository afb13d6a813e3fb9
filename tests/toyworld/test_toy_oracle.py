"""The committed oracle: small, loads strictly, and reads every attribute of fresh held-out renders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from blip_diffusion.errors import InputError
from blip_diffusion.toyworld.oracle import LABELS, Oracle, OracleConfig, load_oracle, read, save_oracle
from blip_diffusion.toyworld.oracle_training import measure_oracle, render_pictures

ASSETS = Path(__file__).resolve().parents[2] / "assets" / "toyworld"
ORACLE = ASSETS / "oracle.safetensors"
REQUIRED = 0.98


@pytest.fixture(scope="module")
def oracle() -> Oracle:
    return load_oracle(ORACLE)


def test_committed_oracle_is_small_and_its_recorded_accuracy_meets_the_bar():
    assert ORACLE.stat().st_size < 5 * 2**20
    record = json.loads(ORACLE.with_suffix(".accuracy.json").read_text())
    assert set(record["accuracy"]) == {*LABELS, "position", "radius"}
    assert min(record["accuracy"].values()) >= REQUIRED, record["accuracy"]


def test_committed_oracle_reads_fresh_held_out_renders(oracle):
    accuracy = measure_oracle(oracle, count=400, seed=2024)  # a seed neither training nor the record used
    assert min(accuracy.values()) >= REQUIRED, accuracy


def test_readings_have_the_documented_shapes(oracle):
    images, _, _ = render_pictures(3, seed=7, stream=99, resolution=96)  # other sizes are resized
    readings = read(oracle, list(images))
    assert readings.embeddings.shape == (3, oracle.config.embed_dim) and readings.poses.shape == (3, 3)
    np.testing.assert_allclose(np.linalg.norm(readings.embeddings, axis=1), 1.0, rtol=1e-5)
    assert set(readings.words(0)) == set(LABELS)
    empty = read(oracle, [])
    assert empty.embeddings.shape == (0, oracle.config.embed_dim)


def test_save_and_load_round_trip(tmp_path):
    torch.manual_seed(0)
    oracle = Oracle(OracleConfig(width=8, embed_dim=16)).eval()
    save_oracle(oracle, tmp_path / "o.safetensors")
    again = load_oracle(tmp_path / "o.safetensors")
    pictures = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(oracle(pictures).embedding, again(pictures).embedding)


def test_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_oracle(tmp_path / "nothing.safetensors")
    safetensors.torch.save_file(
        {"x": torch.zeros(1)}, str(tmp_path / "other.safetensors"), metadata={"format": "9"}
    )
    with pytest.raises(InputError, match="another version"):
        load_oracle(tmp_path / "other.safetensors")
