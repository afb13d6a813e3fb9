"""Bar plot of a run's DINO, CLIP-I and CLIP-T beside the real-image bound and published scores."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from blip_diffusion.utils.atomic import atomic_path

PLOT_FILE = "scores.png"
_METRICS = (("dino", "DINO"), ("clip_i", "CLIP-I"), ("clip_t", "CLIP-T"))
_PUBLISHED = (
    "real images (upper bound)",
    "BLIP-Diffusion zero-shot",
    "BLIP-Diffusion fine-tuned",
    "DreamBooth (SD)",
)


def _series(report: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Label -> metric -> score for each group of bars; missing scores (None) draw no bar."""
    series = {"this run": dict(report["scores"]), "real images, this run": dict(report["real"])}
    for method in _PUBLISHED:
        series[f"{method} (published)"] = report["published"][method]
    return series


def write_plot(report: Mapping[str, Any], path: Path) -> Path:
    """Draw the grouped bar chart of ``report`` (see :mod:`report`) to a PNG at ``path``."""
    # Figure without pyplot: no global backend switch, nothing left open in a caller's session.
    from matplotlib.figure import Figure

    series = _series(report)
    width = 0.8 / len(series)
    figure = Figure(figsize=(8, 4.5), dpi=100)
    axes = figure.subplots()
    for offset, (label, scores) in enumerate(series.items()):
        xs = [
            i + (offset - (len(series) - 1) / 2) * width
            for i, (key, _) in enumerate(_METRICS)
            if scores.get(key) is not None
        ]
        heights = [scores[key] for key, _ in _METRICS if scores.get(key) is not None]
        bars = axes.bar(xs, heights, width, label=label)
        axes.bar_label(bars, fmt="%.3f", fontsize=7, rotation=90, padding=2)
    axes.set_xticks(range(len(_METRICS)), [name for _, name in _METRICS])
    lowest = min(
        scores[key] for scores in series.values() for key, _ in _METRICS if scores.get(key) is not None
    )
    axes.set_ylim(min(0.0, lowest - 0.05), 1.1)  # random test models can score below 0
    axes.set_ylabel("cosine similarity")
    axes.set_title(f"DreamBench: {report['settings'].get('model', '')}")
    axes.legend(fontsize=8, loc="upper right")
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)
