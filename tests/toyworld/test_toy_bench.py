"""ToyBench end to end with fake generators: truth scores ~1, another subject scores low, copies are
caught; runs resume; text-only prompts."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.pipeline_generator import GenerationSettings
from blip_diffusion.evaluation.report import REPORT_JSON, REPORT_MD
from blip_diffusion.evaluation.worklist import image_path
from blip_diffusion.toyworld.adapters import TextOnlyGenerator, TruthGenerator, full_caption
from blip_diffusion.toyworld.bench import GROUND_TRUTH, REFERENCES_DIR, Row, prepare_bench, run_toybench
from blip_diffusion.toyworld.bench_report import OVERVIEW
from tests.toyworld.conftest import CopyReference, WrongSubject

SETTINGS = GenerationSettings(height=64, width=64)


def _row(name, make, model="fake") -> Row:
    return Row(name, name.replace("_", " "), make, model, SETTINGS)


class Counting:
    def __init__(self, generator):
        self.generator, self.requests = generator, []

    def __call__(self, requests):
        self.requests += list(requests)
        return self.generator(requests)


def test_truth_is_near_one_another_subject_is_low_and_copies_are_caught(tmp_path, oracle):
    bench = prepare_bench(tmp_path, subjects=2, samples_per_prompt=1, seed=0, resolution=64)
    rows = [
        _row(GROUND_TRUTH, lambda: TruthGenerator(bench, 64)),
        _row("wrong_subject", lambda: WrongSubject(bench)),
        _row("copy", lambda: CopyReference(bench)),
    ]
    report = run_toybench(bench, rows, tmp_path, oracle, {"samples_per_prompt": 1, "resolution": 64})
    truth, wrong, copy = (report["rows"][name]["all"] for name in (GROUND_TRUTH, "wrong_subject", "copy"))
    assert truth["images"] == 50
    assert truth["subject_fidelity"] >= 0.97 and truth["text_fidelity"] >= 0.97 and truth["copy"] <= 0.1
    assert wrong["subject_fidelity"] <= 0.2 and wrong["identity_cosine"] < truth["identity_cosine"] - 0.3
    assert copy["background_copy"] >= 0.95 and copy["copy"] >= 0.95 and copy["subject_fidelity"] >= 0.97
    assert report["rows"]["copy"]["by_kind"]["context"]["text_fidelity"] <= 0.55  # right class, wrong scene
    assert report["references"]["identity_cosine"] > 0.8

    saved = json.loads((tmp_path / REPORT_JSON).read_text())
    assert saved["rows"].keys() == report["rows"].keys() and len(saved["images"]["copy"]) == 50
    markdown = (tmp_path / REPORT_MD).read_text()
    assert "| ground truth |" in markdown and "a {class} on the beach" in markdown
    for row in rows:
        assert (tmp_path / row.name / OVERVIEW).is_file()
        assert len(list((tmp_path / row.name / "grids").glob("*.jpg"))) == 2
    assert len(list((tmp_path / REFERENCES_DIR).rglob("*.png"))) == sum(
        len(m.references) for m in bench.members.values()
    )


def test_a_run_resumes_and_refuses_other_settings(tmp_path, oracle):
    bench = prepare_bench(tmp_path, subjects=1, samples_per_prompt=2, seed=0, resolution=64)
    first = Counting(TruthGenerator(bench, 64))
    run_toybench(bench, [_row(GROUND_TRUTH, lambda: first)], tmp_path, oracle, {})
    assert len(first.requests) == 50
    kept = image_path(tmp_path / GROUND_TRUTH, bench.requests[0])
    stamp = kept.stat().st_mtime_ns
    lost = image_path(tmp_path / GROUND_TRUTH, bench.requests[7])
    lost.unlink()

    again = Counting(TruthGenerator(bench, 64))
    report = run_toybench(bench, [_row(GROUND_TRUTH, lambda: again)], tmp_path, oracle, {})
    assert [r.relative_path for r in again.requests] == [bench.requests[7].relative_path]
    assert kept.stat().st_mtime_ns == stamp and lost.is_file()
    assert report["rows"][GROUND_TRUTH]["all"]["images"] == 50

    with pytest.raises(InputError, match="other generation settings"):
        run_toybench(bench, [_row(GROUND_TRUTH, lambda: again, model="another")], tmp_path, oracle, {})


class FakeTextPipe:
    """A text-to-image pipeline stand-in: records its calls, paints grey squares."""

    def __init__(self):
        self.calls = []

    def __call__(self, **kwargs):
        self.calls.append(kwargs)
        return type(
            "Output", (), {"images": [Image.new("RGB", (64, 64), "grey") for _ in kwargs["prompt"]]}
        )()


def test_text_only_rows_get_class_prompts_or_full_captions(tmp_path):
    bench = prepare_bench(tmp_path, subjects=1, samples_per_prompt=2, seed=0, resolution=64)
    member = next(iter(bench.members.values()))
    pipe = FakeTextPipe()
    beach, red = bench.requests[4:6], bench.requests[40:42]  # prompt 2 (beach) and prompt 20 (colour)
    TextOnlyGenerator(pipe, bench, SETTINGS, full_captions=False)(beach)
    TextOnlyGenerator(pipe, bench, SETTINGS, full_captions=True)(beach)
    TextOnlyGenerator(pipe, bench, SETTINGS, full_captions=True)(red)
    assert pipe.calls[0]["prompt"] == ["a star on the beach"] * 2
    assert pipe.calls[1]["prompt"] == ["a matte orange and green solid star on the beach"] * 2
    assert pipe.calls[2]["prompt"] == [full_caption(member, bench.prompt(red[0]))] * 2
    assert pipe.calls[2]["prompt"][0] == "a matte red and green solid star"
    seeds = [g.initial_seed() for g in pipe.calls[0]["generator"]]
    assert seeds == [r.seed for r in beach] and pipe.calls[0]["height"] == 64
