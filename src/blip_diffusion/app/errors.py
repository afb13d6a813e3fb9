"""Errors as the user sees them: the message of an InputError, never a Python traceback."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import gradio as gr

from blip_diffusion.errors import InputError

logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


def user_errors(handler: Callable[P, R]) -> Callable[P, R]:
    """Show an InputError's one line in the UI (and to API clients); log anything else server-side."""

    @functools.wraps(handler)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return handler(*args, **kwargs)
        except InputError as error:
            raise gr.Error(html.escape(str(error)), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as error:
            logger.exception("%s failed", handler.__name__)
            raise gr.Error(f"internal error ({type(error).__name__}); the server log has the details",
                           print_exception=False) from None

    return wrapper
