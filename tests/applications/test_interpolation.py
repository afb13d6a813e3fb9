"""Subject interpolation: lerp and slerp per token vector, frames with shared noise, GIF/MP4, progress score."""

from __future__ import annotations

import argparse

import pytest
import torch
from PIL import Image

from blip_diffusion.cli import interpolate as interpolate_cli
from blip_diffusion.errors import InputError
from blip_diffusion.pipelines import interpolation
from blip_diffusion.pipelines.interpolation import (
    interpolate_embeddings,
    interpolate_subjects,
    lerp,
    path_progress,
    save_gif,
    slerp,
)
from tests.conftest import ASSETS, FIXTURE_MODEL, QFORMER_TOKENIZER

CAT = ASSETS / "dreambench" / "cat" / "00.jpg"
FAST = {"num_inference_steps": 1, "height": 32, "width": 32, "output_type": "latent"}


def _angle(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.arccos(torch.nn.functional.cosine_similarity(a.double(), b.double(), dim=-1).clamp(-1, 1))


def test_slerp_moves_the_direction_at_constant_speed_and_the_length_linearly():
    torch.manual_seed(0)
    a, b = torch.randn(16, 32), 3 * torch.randn(16, 32)
    for t in (0.0, 0.3, 0.5, 0.8, 1.0):
        s = slerp(a, b, t)
        assert torch.allclose(s.norm(dim=-1), lerp(a.norm(dim=-1), b.norm(dim=-1), t), rtol=1e-5)
        assert torch.allclose(_angle(s, a), t * _angle(a, b), atol=1e-3)  # on the great circle from a ...
        assert torch.allclose(_angle(s, b), (1 - t) * _angle(a, b), atol=1e-3)  # ... to b
    same_length = b / b.norm(dim=-1, keepdim=True) * a.norm(dim=-1, keepdim=True)
    middle = slerp(a, same_length, 0.5).norm(dim=-1)
    assert torch.allclose(middle, a.norm(dim=-1), rtol=1e-5)  # slerp keeps equal lengths ...
    assert (lerp(a, same_length, 0.5).norm(dim=-1) < middle).all()  # ... where lerp cuts the corner


def test_slerp_of_parallel_and_opposite_vectors_is_finite():
    a = torch.randn(4, 32)
    for b in (a.clone(), a * 2, a + 1e-7, -a):
        s = slerp(a, b, 0.25)
        assert torch.isfinite(s).all()
        assert torch.allclose(s, lerp(a, b, 0.25), atol=1e-5)


def test_path_endpoints_are_exact_and_errors_are_clear():
    a, b = torch.randn(16, 32), torch.randn(16, 32)
    for method in ("linear", "spherical"):
        path = interpolate_embeddings(a, b, 5, method)
        assert path.shape == (5, 16, 32) and torch.equal(path[0], a) and torch.equal(path[-1], b)
    assert torch.allclose(interpolate_embeddings(a, b, 3, "linear")[1], (a + b) / 2)
    with pytest.raises(InputError, match="must be one of linear, spherical"):
        interpolate_embeddings(a, b, 5, "cubic")
    with pytest.raises(InputError, match="at least 2"):
        interpolate_embeddings(a, b, 1)


def test_frames_share_noise_and_end_at_each_subject(pipe, dog_image):
    dog, cat = pipe.encode_subject(dog_image, "dog"), pipe.encode_subject(Image.open(CAT), "cat")
    result = interpolate_subjects(pipe, "on the beach", dog, cat, target_category="pet", num_frames=3, seed=5, **FAST)
    assert len(result.frames) == 3 and result.weights == [0.0, 0.5, 1.0]
    for frame, subject in ((result.frames[0], dog), (result.frames[-1], cat)):
        alone = pipe("on the beach", subject, target_subject_category="pet",
                     generator=torch.Generator().manual_seed(5), **FAST).images[0]
        assert torch.equal(frame, alone)
    assert (result.frames[1] - result.frames[0]).abs().max() > 1e-4
    with pytest.raises(InputError, match="classes differ .* give target_category"):
        interpolate_subjects(pipe, "on the beach", dog, cat, num_frames=3, **FAST)


def test_gif_and_mp4(tmp_path, monkeypatch):
    frames = [Image.new("RGB", (8, 8), (40 * i, 0, 0)) for i in range(4)]
    path = save_gif(frames, tmp_path / "a.gif", frame_ms=100, bounce=True)
    with Image.open(path) as gif:
        assert gif.n_frames == 6 and gif.info["duration"] == 100  # 4 forward, 2 back
    monkeypatch.setattr(interpolation, "mp4_available", lambda: False)
    with pytest.raises(InputError, match=r"pip install imageio\[ffmpeg\]"):
        interpolation.save_mp4(frames, tmp_path / "a.mp4")
    assert not (tmp_path / "a.mp4").exists()


def test_path_progress():
    weights = [0.0, 0.25, 0.5, 0.75, 1.0]
    assert path_progress(weights, [0.1, 0.2, 0.5, 0.6, 0.9]) == pytest.approx(1.0)
    assert path_progress(weights, [0.9, 0.6, 0.5, 0.2, 0.1]) == pytest.approx(-1.0)
    assert path_progress(weights, [0.5] * 5) == 0.0
    assert path_progress(weights, [0.1, 0.3, 0.2, 0.6, 0.9]) == pytest.approx(0.9)
    with pytest.raises(InputError, match="one score per frame"):
        path_progress(weights, [0.1])


def test_interpolate_command_writes_frames_grid_and_gif(tmp_path, dog_image, capsys):
    parser = argparse.ArgumentParser()
    interpolate_cli.add_arguments(parser)
    dog = str(ASSETS / "dreambench" / "dog" / "00.jpg")
    args = parser.parse_args([
        "--model", str(FIXTURE_MODEL), "--qformer-tokenizer", str(QFORMER_TOKENIZER), "--subject-a", dog,
        "--class-a", "dog", "--subject-b", str(CAT), "--class-b", "cat", "--target-class", "pet",
        "--prompt", "on the beach", "--frames", "3", "--steps", "1", "--guidance", "1", "--size", "32x32",
        "--mp4", "--out", str(tmp_path)])
    assert interpolate_cli.run(args) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:3] == ["frame_000.png", "frame_001.png", "frame_002.png"] and "interpolation.gif" in names
    assert Image.open(tmp_path / "grid.png").size == (96, 32)
    assert ("mp4:" in capsys.readouterr().out) == interpolation.mp4_available()


def test_mp4_when_imageio_ffmpeg_is_installed(tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v2 as imageio

    frames = [Image.new("RGB", (32, 32), (40 * i, 0, 0)) for i in range(5)]
    path = interpolation.save_mp4(frames, tmp_path / "a.mp4", fps=4)
    with imageio.get_reader(str(path)) as reader:
        assert reader.count_frames() == 5 and reader.get_meta_data()["fps"] == 4
