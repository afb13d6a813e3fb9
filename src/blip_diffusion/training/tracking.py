"""Training metrics: TensorBoard through accelerate's trackers, an optional dependency."""

from __future__ import annotations

import logging
from typing import Any

from blip_diffusion.training.config import RunConfig

logger = logging.getLogger(__name__)


def tracker(run: RunConfig) -> str | None:
    """TensorBoard when asked for and installed (an optional dependency), else no tracker."""
    if run.log_with == "none":
        return None
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        logger.warning("tensorboard is not installed: training metrics are not logged (pip install tensorboard)")
        return None
    return run.log_with


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config -> {"run.max_steps": 10, ...} with scalar values, as trackers want."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value if isinstance(value, (int, float, str, bool)) else str(value)
    return flat
