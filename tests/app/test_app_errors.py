"""What the user sees of a failure: an InputError's line (as text, not HTML), never a traceback."""

from __future__ import annotations

import pytest

from blip_diffusion.errors import InputError

gr = pytest.importorskip("gradio")
from blip_diffusion.app.errors import user_errors  # imports gradio: after the skip


def test_an_input_error_shows_its_message_as_text():
    @user_errors
    def handler(name: str) -> str:
        raise InputError(f"not an image file (unknown format): {name}")

    with pytest.raises(gr.Error) as error:
        handler("<b>x.png</b>")
    assert error.value.message == "not an image file (unknown format): &lt;b&gt;x.png&lt;/b&gt;"
    assert error.value.print_exception is False


def test_anything_else_is_logged_and_shown_as_an_internal_error(caplog):
    @user_errors
    def handler() -> None:
        raise RuntimeError("CUDA out of memory at /secret/path")

    with pytest.raises(gr.Error) as error:
        handler()
    assert error.value.message == "internal error (RuntimeError); the server log has the details"
    assert "Traceback" in caplog.text and "/secret/path" in caplog.text
