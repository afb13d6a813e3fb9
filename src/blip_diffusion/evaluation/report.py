"""The evaluation report: ``report.json`` (everything, per image too) and ``report.md`` (tables).

The markdown puts this run's scores beside the published ones and breaks them down per subject and
per prompt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from blip_diffusion.evaluation.dreambench import Subject
from blip_diffusion.evaluation.paper import PAPER_SCORES
from blip_diffusion.evaluation.scoring import (
    ImageScore,
    RealScore,
    by_prompt,
    by_subject,
    mean_real,
    mean_scores,
)
from blip_diffusion.utils.atomic import atomic_path

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
_COLUMNS = (("dino", "DINO"), ("clip_i", "CLIP-I"), ("clip_t", "CLIP-T"))


def build_report(
    settings: Mapping[str, Any],
    subjects: Sequence[Subject],
    scores: Sequence[ImageScore],
    real: Mapping[str, RealScore],
) -> dict[str, Any]:
    """Everything a run measured, as a JSON-ready dict; ``settings`` describes the run (model, steps...)."""
    per_subject = by_subject(scores)
    for subject in subjects:
        per_subject.setdefault(subject.name, {})
        per_subject[subject.name].update(
            {
                "class": subject.class_word,
                "live": subject.live,
                "photos": len(subject.images),
                "real_dino": real[subject.name].dino,
                "real_clip_i": real[subject.name].clip_i,
            }
        )
    return {
        "benchmark": "dreambench",
        "settings": dict(settings),
        "subjects": [subject.name for subject in subjects],
        "scores": mean_scores(scores),
        "real": mean_real(real.values()),
        "per_subject": per_subject,
        "per_prompt": by_prompt(scores),
        "published": PAPER_SCORES,
        "images": [
            {
                "path": s.request.relative_path,
                "subject": s.request.subject,
                "prompt_index": s.request.prompt.index,
                "prompt": s.request.text,
                "sample": s.request.sample,
                "seed": s.request.seed,
                "dino": s.dino,
                "clip_i": s.clip_i,
                "clip_t": s.clip_t,
            }
            for s in scores
        ],
    }


def format_score(value: float | None) -> str:
    """A score with 3 decimals, or "-" where there is none."""
    return "-" if value is None else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _headline(report: Mapping[str, Any]) -> list[str]:
    rows = [
        [f"**this run: `{report['settings']['model']}`**", *_scores(report["scores"])],
        ["real images, this run (upper bound)", *_scores(report["real"])],
    ]
    rows += [[f"{method} (published)", *_scores(values)] for method, values in report["published"].items()]
    return _table(["method", *(name for _, name in _COLUMNS)], rows)


def _scores(values: Mapping[str, Any]) -> list[str]:
    return [format_score(values.get(key)) for key, _ in _COLUMNS]


def _summary(report: Mapping[str, Any]) -> str:
    s = report["settings"]
    return (
        f"{len(report['subjects'])} subjects, {report['scores']['images']} generated images "
        f"({s['images_per_prompt']} per prompt); {s['num_inference_steps']} steps, guidance "
        f"{s['guidance_scale']}, {s['width']}x{s['height']}, seed {s['seed']}. "
        f"Metric models: DINO `{s['dino_model']}`, CLIP `{s['clip_model']}`."
    )


def _per_subject(report: Mapping[str, Any]) -> list[str]:
    rows = [
        [name, values["class"], "live" if values["live"] else "object", str(values.get("images", 0))]
        + _scores(values)
        + [format_score(values["real_dino"]), format_score(values["real_clip_i"])]
        for name, values in report["per_subject"].items()
    ]
    header = ["subject", "class", "prompts", "images", "DINO", "CLIP-I", "CLIP-T", "real DINO", "real CLIP-I"]
    return _table(header, rows)


def _per_prompt(report: Mapping[str, Any]) -> list[str]:
    rows = [
        [pattern, str(values["images"]), *_scores(values)] for pattern, values in report["per_prompt"].items()
    ]
    return _table(["prompt", "images", "DINO", "CLIP-I", "CLIP-T"], rows)


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as markdown: headline table beside the published numbers, then the breakdowns."""
    lines = [
        "# DreamBench evaluation",
        "",
        _summary(report),
        "",
        *_headline(report),
        "",
        ("Published rows: 30 subjects x 25 prompts x 4 images, DINO ViT-S/16 and (in most papers) "
         "CLIP ViT-B/32. Compare only runs of the same protocol and metric models."),
        "",
        "## Per subject",
        "",
        *_per_subject(report),
        "",
        "## Per prompt",
        "",
        "Averaged over the subjects whose prompt list has it.",
        "",
        *_per_prompt(report),
    ]
    return "\n".join(lines) + "\n"


def write_report(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out_dir`` atomically; return their paths."""
    return write_report_files(report, render_markdown(report), out_dir)


def write_report_files(report: Mapping[str, Any], markdown: str, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report`` as ``report.json`` and ``markdown`` as ``report.md`` into ``out_dir``, each atomically."""
    json_path, md_path = Path(out_dir) / REPORT_JSON, Path(out_dir) / REPORT_MD
    with atomic_path(json_path) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    with atomic_path(md_path) as tmp:
        tmp.write_text(markdown, encoding="utf-8")
    return json_path, md_path
