"""The toy application benchmarks (benchmarks/toy_*.py behind docs/results.md) run end to end on the
bundled model at their smallest size: every table row they print and the grid they write."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import run_script

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str, grid: Path, *args: str) -> dict[str, list[float]]:
    """Run a benchmark; its markdown table rows as {first cell: the numbers of the other cells}."""
    rows = {}
    for line in run_script(BENCHMARKS / script, "--grid", str(grid), *args).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and not cells[0].startswith(("row", "weight")):
            rows.setdefault(cells[0], [float(cell) for cell in cells[1:]])
    assert Image.open(grid).size[0] > 0
    return rows


@pytest.mark.parametrize("script, args, row_names", [
    ("toy_controlnet.py", ["--subjects", "1", "--per-subject", "2"],
     {"subject rendered at the control pose (ceiling)", "without ControlNet", "with ControlNet"}),
    ("toy_multi_subject.py", ["--pairs", "1", "--contexts", "1", "--samples", "1"],
     {"regions (left / right)", "no regions", "each subject alone"}),
])
def test_benchmark_prints_every_row(tmp_path, script, args, row_names):
    rows = _run(script, tmp_path / "grid.jpg", *args)
    assert set(rows) == row_names
    for name, values in rows.items():
        shares = values if script == "toy_multi_subject.py" else [values[0], values[2], values[3], values[4]]
        assert all(0.0 <= value <= 1.0 for value in shares), (name, values)


def test_interpolation_benchmark_prints_every_frame(tmp_path):
    rows = _run("toy_interpolation.py", tmp_path / "grid.jpg", "--pairs", "1", "--contexts", "2", "--frames", "3")
    assert set(rows) == {"0.00", "0.50", "1.00"}
    for weight, (share_b, share_a, cosine_gap) in rows.items():
        assert 0.0 <= share_a <= 1.0 and 0.0 <= share_b <= 1.0 and -2.0 <= cosine_gap <= 2.0, weight
