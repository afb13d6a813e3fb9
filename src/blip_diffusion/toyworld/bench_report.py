"""ToyBench reports: ``report.json`` (everything, per picture too), ``report.md`` (tables) and grids."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from blip_diffusion.evaluation.grids import subject_grid, write_subject_grids
from blip_diffusion.evaluation.metrics import distinct_pairs_cosine
from blip_diffusion.evaluation.report import format_score, write_report_files
from blip_diffusion.evaluation.worklist import GenerationRequest, image_path
from blip_diffusion.toyworld.metrics import ImageScore, mean_scores
from blip_diffusion.utils.atomic import atomic_path

if TYPE_CHECKING:
    from blip_diffusion.toyworld.bench import ToyBench

OVERVIEW = "overview.png"
_COLUMNS = (
    ("subject_fidelity", "subject fidelity"),
    ("identity_cosine", "identity cosine"),
    ("text_fidelity", "text fidelity"),
    ("copy", "copy rate"),
    ("background_copy", "background copy"),
    ("pose_copy", "pose copy"),
)


def _grouped(
    bench: ToyBench, scores: Sequence[ImageScore], key: Callable[[GenerationRequest], str]
) -> dict[str, dict]:
    groups: dict[str, list[ImageScore]] = defaultdict(list)
    for request, score in zip(bench.requests, scores):
        groups[key(request)].append(score)
    return {name: mean_scores(group) for name, group in groups.items()}


def row_report(bench: ToyBench, scores: Sequence[ImageScore]) -> dict[str, Any]:
    """Means of one row: over all pictures, per prompt kind, per subject and per prompt pattern."""
    return {
        "all": mean_scores(scores),
        "by_kind": _grouped(bench, scores, lambda r: bench.prompt(r).kind),
        "per_subject": _grouped(bench, scores, lambda r: r.subject),
        "per_prompt": _grouped(bench, scores, lambda r: r.prompt.pattern),
    }


def references_report(references: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Identity cosine between distinct reference photos of a subject, averaged over subjects (the
    analogue of DreamBench's real-vs-real row)."""
    values = [distinct_pairs_cosine(torch.from_numpy(e)) for e in references.values() if len(e) >= 2]
    return {"identity_cosine": float(np.mean(values))}


def build_report(
    bench: ToyBench,
    settings: Mapping[str, Any],
    titles: Mapping[str, str],
    rows: Mapping[str, Sequence[ImageScore]],
    references: Mapping[str, np.ndarray],
    timings: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything a run measured, JSON-ready; ``rows`` maps each row name to its scores, ``timings``
    the fine-tuned rows to their mean fine-tuning seconds per subject and steps."""
    timings = timings or {}
    return {
        "benchmark": "toybench",
        "settings": dict(settings),
        "subjects": [subject.name for subject in bench.subjects],
        "references": references_report(references),
        "rows": {
            name: {"title": titles[name], **row_report(bench, scores), **timings.get(name, {})}
            for name, scores in rows.items()
        },
        "images": {
            name: [
                {
                    "path": f"{name}/{r.relative_path}",
                    "subject": r.subject,
                    "prompt": r.text,
                    "sample": r.sample,
                    "seed": r.seed,
                    **{key: float(getattr(s, key)) for key, _ in _COLUMNS},
                }
                for r, s in zip(bench.requests, scores)
            ]
            for name, scores in rows.items()
        },
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as markdown: the headline table, then per prompt kind and per prompt."""
    settings, rows = report["settings"], report["rows"]
    names = [name for _, name in _COLUMNS]
    headline = [
        [
            values["title"],
            *(format_score(values["all"].get(k)) for k, _ in _COLUMNS),
            _seconds(values.get("finetune_seconds")),
            str(values["all"]["images"]),
        ]
        for values in rows.values()
    ]
    headline.append(
        [
            "reference photos, pairwise (real-vs-real)",
            "-",
            format_score(report["references"]["identity_cosine"]),
            *["-"] * (len(_COLUMNS) - 2),
            "-",
            "-",
        ]
    )
    by_kind = [
        [values["title"], kind, *(format_score(m.get(k)) for k, _ in _COLUMNS), str(m["images"])]
        for values in rows.values()
        for kind, m in values["by_kind"].items()
    ]
    per_prompt = (
        [
            [
                pattern,
                *(
                    f"{format_score(v['per_prompt'][pattern]['subject_fidelity'])} / "
                    f"{format_score(v['per_prompt'][pattern]['text_fidelity'])}"
                    for v in rows.values()
                ),
            ]
            for pattern in next(iter(rows.values()))["per_prompt"]
        ]
        if rows
        else []
    )
    lines = [
        "# ToyBench",
        "",
        (f"{len(report['subjects'])} held-out subjects x 25 prompts x "
         f"{settings.get('samples_per_prompt', '?')} samples; {settings.get('resolution', '?')} px; "
         f"oracle `{settings.get('oracle', '?')}`. Scores are shares read by the oracle "
         "(1.0 = every attribute right), copy rates are shares of pictures."),
        "",
        *_table(["row", *names, "fine-tuning s/subject", "images"], headline),
        "",
        "## By prompt kind",
        "",
        *_table(["row", "prompts", *names, "images"], by_kind),
        "",
        "## Per prompt: subject fidelity / text fidelity",
        "",
        *_table(["prompt", *(v["title"] for v in rows.values())], per_prompt),
    ]
    return "\n".join(lines) + "\n"


def write_report(report: Mapping[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.md`` into ``out`` atomically; return their paths."""
    return write_report_files(report, render_markdown(report), out)


def write_grids(bench: ToyBench, row_dir: Path, thumbnail: int = 64) -> list[Path]:
    """A row's pictures as grids: ``overview.png`` (per subject: first reference photo, then the
    first sample of each prompt) and the harness's per-subject sheets ``grids/<subject>.jpg``."""
    first = {(r.subject, r.prompt.index): image_path(row_dir, r) for r in bench.requests if r.sample == 0}
    rows = [
        (subject.name, [subject.images[0], *(first[subject.name, p.index] for p in subject.prompts)])
        for subject in bench.subjects
    ]
    path = Path(row_dir) / OVERVIEW
    with atomic_path(path) as tmp:
        subject_grid(rows, thumbnail).save(tmp, format="PNG")
    return [
        path,
        *write_subject_grids(bench.subjects, bench.requests, Path(row_dir), thumbnail=2 * thumbnail),
    ]
