"""Atomic file output: write to a temporary name in the same folder, then rename.

A crash or a bad input half way through never leaves a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    Works for files and folders: the caller creates whatever it needs at the yielded path.
    On an exception the temporary file or folder is removed and ``path`` is left untouched.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    target = tmp / final.name
    try:
        yield target
        if final.is_dir() and not final.is_symlink():
            backup = tmp / ".previous"
            os.replace(final, backup)
        os.replace(target, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
