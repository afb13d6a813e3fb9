"""Report contents from scores worked out by hand: averages, breakdowns, markdown, plot, grids."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from blip_diffusion.evaluation.dreambench import load_subjects
from blip_diffusion.evaluation.grids import LABEL_WIDTH, write_subject_grids
from blip_diffusion.evaluation.paper import PAPER_SCORES
from blip_diffusion.evaluation.report import build_report, render_markdown, write_report
from blip_diffusion.evaluation.scoring import ImageScore, RealScore
from blip_diffusion.evaluation.worklist import build_requests, image_path
from tests.evaluation.conftest import DREAMBENCH

SETTINGS = {
    "model": "some/model",
    "images_per_prompt": 2,
    "num_inference_steps": 50,
    "guidance_scale": 7.5,
    "width": 512,
    "height": 512,
    "seed": 0,
    "dino_model": "dino",
    "clip_model": "clip",
}


@pytest.fixture(scope="module")
def subjects():
    return load_subjects(DREAMBENCH, ["dog", "teapot"])


@pytest.fixture(scope="module")
def requests(subjects):
    return build_requests(subjects, images_per_prompt=2, seed=0, max_prompts=2)  # dog 0..3, teapot 4..7


@pytest.fixture(scope="module")
def report(subjects, requests):
    # dog: dino 0.1..0.4, teapot: 0.5..0.8; clip_i = dino + 0.1; clip_t = 0.3 for dog, 0.2 for teapot
    scores = [
        ImageScore(r, 0.1 * (i + 1), 0.1 * (i + 2), 0.3 if r.subject == "dog" else 0.2)
        for i, r in enumerate(requests)
    ]
    real = {"dog": RealScore(0.9, 0.8), "teapot": RealScore(0.7, None)}
    return build_report(SETTINGS, subjects, scores, real)


def test_averages(report):
    assert report["scores"] == pytest.approx({"dino": 0.45, "clip_i": 0.55, "clip_t": 0.25, "images": 8})
    assert report["real"] == pytest.approx({"dino": 0.8, "clip_i": 0.8})  # teapot has no CLIP-I pair score
    assert report["per_subject"]["dog"]["dino"] == pytest.approx(0.25)
    assert report["per_subject"]["teapot"]["clip_i"] == pytest.approx(0.75)
    assert report["per_subject"]["dog"]["live"] and not report["per_subject"]["teapot"]["live"]
    # prompt 0 is "a {class} in the jungle" for both lists: dog images 0, 1 and teapot images 4, 5
    assert report["per_prompt"]["a {class} in the jungle"]["dino"] == pytest.approx(
        (0.1 + 0.2 + 0.5 + 0.6) / 4
    )
    assert report["published"] == PAPER_SCORES
    assert report["images"][4]["prompt"] == "a teapot in the jungle" and report["images"][4][
        "dino"
    ] == pytest.approx(0.5)


def test_markdown_puts_the_run_beside_the_published_numbers(report):
    text = render_markdown(report)
    assert "| **this run: `some/model`** | 0.450 | 0.550 | 0.250 |" in text
    assert "| real images, this run (upper bound) | 0.800 | 0.800 | - |" in text
    assert "| BLIP-Diffusion zero-shot (published) | 0.594 | 0.779 | 0.300 |" in text
    assert "| dog | dog | live | 4 | 0.250 | 0.350 | 0.300 | 0.900 | 0.800 |" in text
    assert "| teapot | teapot | object | 4 | 0.650 | 0.750 | 0.200 | 0.700 | - |" in text
    assert "| a {class} on the beach |" not in text and "| a {class} in the snow | 4 |" in text


def test_report_files_and_plot(report, tmp_path):
    json_path, md_path = write_report(report, tmp_path)
    assert json.loads(json_path.read_text()) == json.loads(json.dumps(report))
    assert md_path.read_text() == render_markdown(report)
    pytest.importorskip("matplotlib")
    from blip_diffusion.evaluation.plot import write_plot

    plot = write_plot(report, tmp_path / "scores.png")
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert Image.open(plot).size == (800, 450)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "report.md", "scores.png"]


def test_grids_show_the_photos_then_one_row_per_prompt(subjects, requests, tmp_path):
    for r in requests:
        image_path(tmp_path, r).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64, 64), (255, 0, 0)).save(image_path(tmp_path, r))
    paths = write_subject_grids(subjects, requests, tmp_path, thumbnail=32)
    assert [p.name for p in paths] == ["dog.jpg", "teapot.jpg"]
    grid = Image.open(paths[0])
    assert grid.size == (LABEL_WIDTH + 5 * 32, 3 * 32)  # 5 photos wide; photo row + 2 prompt rows
    red = grid.getpixel((LABEL_WIDTH + 16, 32 + 16))
    assert red[0] > 200 and red[1] < 60 and red[2] < 60
