"""Checkpoints: everything needed to continue a run exactly, written so a killed run never leaves a
half-written one under its final name.

A checkpoint is ``<out>/checkpoints/step-NNNNNNNN/``: accelerate's state (trained modules,
optimizer, LR schedule, EMA, RNG states of every process) plus ``trainer_state.json`` (the step,
which is also the data position, since batch contents are a function of the step) and the resolved
``config.json``. Every process writes into ``.step-NNNNNNNN.tmp`` and the main process renames it
once all are done: the rename is the commit point.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from accelerate import Accelerator

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
STATE_FILE = "trainer_state.json"
CONFIG_FILE = "config.json"
_NAME = re.compile(r"^step-(\d{8})$")


def checkpoint_dirs(out: Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    root = Path(out) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and _NAME.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: p.name)


def save(accelerator: Accelerator, out: Path, step: int, config: dict[str, Any], kept: int) -> Path:
    """Save the state after ``step`` optimizer steps; keep the newest ``kept`` checkpoints."""
    root = Path(out) / CHECKPOINTS
    final = root / f"step-{step:08d}"
    tmp = root / f".{final.name}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
        (tmp / STATE_FILE).write_text(json.dumps({"step": step}) + "\n")
        _fsync_tree(tmp)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        for old in checkpoint_dirs(out)[:-kept]:
            shutil.rmtree(old, ignore_errors=True)
        logger.info("checkpoint %s", final)
    accelerator.wait_for_everyone()
    return final


def _fsync_tree(folder: Path) -> None:
    """Flush the checkpoint's files to disk before the rename makes them the checkpoint."""
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())


def restore(accelerator: Accelerator, out: Path) -> int:
    """Load the newest checkpoint of ``out``; returns its step (0 when there is none)."""
    found = checkpoint_dirs(out)
    if not found:
        return 0
    latest = found[-1]
    accelerator.load_state(str(latest))
    step = json.loads((latest / STATE_FILE).read_text())["step"]
    logger.info("resumed from %s (step %d)", latest, step)
    return step
