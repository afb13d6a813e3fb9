"""The base-model probes behind docs/results.md (benchmarks/toy_clip_probe.py, toy_base_classes.py,
toy_caption_use.py, toy_subject_probe.py, toy_base_sdedit.py, toy_class_label_unet.py) run end to end on
the bundled models at their smallest size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

from tests.conftest import run_script

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "assets" / "models" / "toy" / "base"


def _run(script: str, *args: str) -> str:
    return run_script(ROOT / "benchmarks" / script, *args)


def test_clip_probe_reads_every_attribute():
    out = _run("toy_clip_probe.py", str(BASE / "clip"), "--photos", "20", "--fit", "200", "--layer", "-1")
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"attribute", "class_name", "colour", "accent", "pattern", "finish", "scene"}
    for name, line in rows.items():
        if name != "attribute":
            retrieval, chance, spread, probe = (float(cell) for cell in line.strip(" |").split("|")[2:6])
            assert 0.0 <= retrieval <= 1.0 and 0.0 < chance < 1.0 and 0.0 <= spread <= 1.0, line
            assert 0.0 <= probe <= 1.0, line
    assert float(rows["scene"].strip(" |").split("|")[5]) > 0.5  # the scene fills the picture: any tower sees it


def test_class_probe_reads_its_pictures_and_writes_the_grid(tmp_path):
    out = _run("toy_base_classes.py", str(BASE), "--subjects", "1", "--seeds", "1", "--grid", str(tmp_path / "g.jpg"))
    assert "10 pictures" in out and "class read as named: " in out
    assert Image.open(tmp_path / "g.jpg").size == (640, 64)


def test_class_probe_asks_with_the_class_word_alone():
    out = _run("toy_base_classes.py", str(BASE), "--class-only", "3", "--seeds", "1")
    assert "10 pictures, 'a {class}' x 3, 1 seeds" in out and "class read as named: " in out


def test_sdedit_probe_keeps_the_class_from_little_noise_and_writes_the_grid(tmp_path):
    out = _run("toy_base_sdedit.py", str(BASE), "--subjects", "1", "--strengths", "0.1", "--grid", str(tmp_path / "g.jpg"))
    ceiling = float(out.split("through the VAE alone: class read ")[1].split()[0])
    row = next(line for line in out.splitlines() if line.startswith("0.1 "))
    start, estimate, own = row.split("|")[0].split(), float(row.split("|")[1]), float(row.split("|")[2])
    assert start[1:] == ["95", "0.900"], row
    # a tenth of the noise hides little (here 0.68 and 0.48 of 25 photos, the VAE 0.80); a wrong estimate of
    # the clean picture, or noise added at the wrong scale, would read at chance (0.1)
    assert ceiling > 0.5 and estimate > 0.4 and own > 0.3, out
    assert Image.open(tmp_path / "g.jpg").size == (512, 192)


def test_class_label_unet_trains_resumes_and_probes(tmp_path):
    run = tmp_path / "run"
    _run("toy_class_label_unet.py", "train", str(run), "--steps", "1", "--photos", "40")
    _run("toy_class_label_unet.py", "train", str(run), "--steps", "2", "--photos", "40", "--resume")
    assert sorted(p.name for p in run.glob("checkpoints/step-*")) == ["step-00000001", "step-00000002"]
    out = _run("toy_class_label_unet.py", "probe", str(run), "--subjects", "1", "--seeds", "1", "--grid", str(tmp_path / "g.jpg"))
    assert out.startswith("step-00000002: class read as named ") and "of 10 pictures" in out, out
    assert Image.open(tmp_path / "g.jpg").size == (640, 64)


def test_class_labels_come_from_the_captions_class_word(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    from toy_class_label_unet import class_labels

    tokens = torch.tensor([7, 3, 9])
    ids = torch.tensor([[1, 5, 9, 2, 0], [1, 3, 4, 2, 0], [1, 6, 6, 7, 2]])
    assert class_labels(ids, tokens).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="without a class word"):
        class_labels(torch.tensor([[1, 2, 0]]), tokens)


def test_caption_use_probe_finds_the_colour_used_and_a_wrong_one_costly():
    out = _run("toy_caption_use.py", str(BASE), "--photos", "4", "--repeats", "1", "--batch", "4")
    rows = {line.split("|")[1].strip(): line.strip(" |").split("|")[1:] for line in out.splitlines()
            if line.startswith("| ") and "---" not in line}
    assert set(rows) == {"attribute", "class_name", "colour", "accent", "pattern", "finish", "scene", "empty"}
    middle = rows["colour"][1].split("/")[0]  # t 250-499, subject pixels: "+0.474 ± 0.024"
    assert float(middle.split("±")[0]) > 0.1, rows["colour"]
    assert "loss with the true caption, t 750-999" in out


def test_subject_probe_reads_the_class_word_from_the_embeddings():
    model = ROOT / "assets" / "models" / "toy" / "blip-diffusion"
    out = _run("toy_subject_probe.py", str(model), "--train", "1000", "--test", "100")
    rows = {line.split("|")[1].strip().split(" ")[0]: [float(c) for c in line.strip(" |").split("|")[1:]]
            for line in out.splitlines() if line.startswith("| ") and "---" not in line and "chance" not in line}
    assert set(rows) == {"class_name", "colour", "accent", "pattern", "finish"}
    assert all(0.0 <= value <= 1.0 for row in rows.values() for value in row)
    # the Q-Former is given the class word: its embeddings must carry it, well above the image
    # encoder's features (which hold the outline only weakly) and chance (0.1)
    assert rows["class_name"][2] > max(0.4, rows["class_name"][1] + 0.2), rows["class_name"]


def _accuracies(out: str) -> dict[str, float]:
    return {line.split("|")[1].strip(): float(line.strip(" |").split("|")[3]) for line in out.splitlines()
            if line.startswith("| ") and "---" not in line and "chance" not in line}


def test_vision_capacity_trains_a_tower_and_scores_every_attribute(tmp_path):
    from blip_diffusion.training.subject_model import read_clip_vision

    saved = tmp_path / "tower"
    for tower in (["--tower", "vit", "--patch-size", "16", "--save", str(saved)], ["--tower", "cnn", "--layers", "3"]):
        out = _run("toy_vision_capacity.py", *tower, "--width", "32", "--steps", "12", "--batch-size", "16",
                   "--test", "40", "--eval-every", "6")
        accuracies = _accuracies(out)
        assert set(accuracies) == {"class_name", "colour", "accent", "pattern", "finish", "scene"}, out
        assert all(0.0 <= a <= 1.0 for a in accuracies.values()), out
        assert "step 12: loss " in out and " s per step" in out, out
        assert "step 6, held out: class_name " in out and "step 12, held out" not in out, out
    config, state = read_clip_vision(saved)  # the ViT, as stage 1 reads it
    assert config.hidden_size == 32 and config.patch_size == 16
    assert "vision_model.embeddings.class_embedding" in state


def test_toybench_grid_interleaves_the_rows_subject_by_subject(tmp_path):
    import json

    run = tmp_path / "run"
    for row, shade in (("ground_truth", 0), ("blip_diffusion", 200)):
        (run / row).mkdir(parents=True)
        overview = Image.new("RGB", (30, 20), (shade, shade, shade))
        overview.paste((shade, 0, 0), (0, 10, 30, 20))  # the second subject's strip is red
        overview.save(run / row / "overview.png")
    (run / "report.json").write_text(json.dumps({"subjects": ["a", "b"]}))
    _run("toybench_breakdowns.py", "grid", str(run), "ground_truth", "blip_diffusion", "--out", str(tmp_path / "g.png"),
         "--scale", "1")
    sheet = Image.open(tmp_path / "g.png")
    assert sheet.size == (30, 40)
    assert [sheet.getpixel((5, 5 + 10 * i)) for i in range(4)] == [(0, 0, 0), (200, 200, 200), (0, 0, 0), (200, 0, 0)]
