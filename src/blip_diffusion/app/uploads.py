"""Uploaded subjects: 1 to N photos, or one subject file from ``blip-diffusion encode-subject``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from blip_diffusion.app.limits import Limits, check_upload
from blip_diffusion.errors import InputError

SUBJECT_FILE_SUFFIX = ".safetensors"


def read_photos(files: Sequence[str] | None, limits: Limits) -> list[Path]:
    """Paths of 1 to ``limits.max_subject_photos`` photos, each within the upload and pixel caps."""
    paths = [Path(f) for f in files or []]
    if not paths:
        raise InputError("no subject photos: drop 1 to "
                         f"{limits.max_subject_photos} photos of the subject (or one subject file)")
    if len(paths) > limits.max_subject_photos:
        raise InputError(f"{len(paths)} photos given; this server accepts up to {limits.max_subject_photos} "
                         "per subject (--max-subject-photos)")
    if any(p.suffix == SUBJECT_FILE_SUFFIX for p in paths):
        raise InputError("give either photos or one subject file (.safetensors), not both")
    for path in paths:
        check_upload(limits, path)
    return paths


def read_subject(files: Sequence[str] | None, limits: Limits) -> list[Path] | str:
    """Checked photo paths, or the path of a single uploaded subject file (the pipeline loads both)."""
    paths = [Path(f) for f in files or []]
    if len(paths) == 1 and paths[0].suffix == SUBJECT_FILE_SUFFIX:
        check_upload(limits, paths[0])
        return str(paths[0])
    return read_photos(files, limits)


def read_image(file: str | None, limits: Limits, label: str) -> Path:
    """The path of one uploaded image (``label`` names it in errors), within the upload and pixel caps."""
    if not file:
        raise InputError(f"no {label}: upload an image")
    check_upload(limits, file)
    return Path(file)
