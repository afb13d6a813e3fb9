"""The HTTP API through gradio_client: concurrent clients, the queue, subject files, refusals."""

from __future__ import annotations

import re
import threading
import time

import httpx
import numpy as np
import pytest
import torch
from PIL import Image

from tests.app.conftest import DOG
from tests.app.helpers import api_client

pytest.importorskip("gradio")
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from gradio_client.utils import Status

FAST = {"guidance": 7.5, "steps": 2, "width": 64, "height": 64}
TIMEOUT_S = 300


def _generate(client: Client, subject: str, prompt: str, seed: int, **extra):
    arguments = {"subject_class": "dog", "target_class": "", "negative_prompt": "", "num_images": 1, **FAST,
                 **extra}
    return client.submit([handle_file(subject)], prompt=prompt, seed=seed, api_name="/generate", **arguments)


def _direct(pipe, prompt: str, seed: int, subject=DOG) -> np.ndarray:
    image = pipe(prompt, [subject] if subject == DOG else subject, "dog", num_inference_steps=FAST["steps"],
                 height=64, width=64, guidance_scale=FAST["guidance"],
                 generator=[torch.Generator("cpu").manual_seed(seed)]).images[0]
    return np.asarray(image)


def _watch(job, seen: list) -> None:
    while not job.done():
        seen.append(job.status())
        time.sleep(0.02)  # a queued request may wait well under a second: look often


def test_concurrent_clients_each_get_the_image_their_seed_implies(server, pipe):
    requests = [("on the beach", 11), ("in the snow", 12), ("on the moon", 13)]
    jobs = [_generate(api_client(server.url), str(DOG), prompt, seed) for prompt, seed in requests]
    statuses: list = []
    watchers = [threading.Thread(target=_watch, args=(job, statuses)) for job in jobs]
    for watcher in watchers:
        watcher.start()
    results = [job.result(timeout=TIMEOUT_S) for job in jobs]
    for watcher in watchers:
        watcher.join()
    for (prompt, seed), (_, files) in zip(requests, results):
        image = Image.open(files[0])
        assert image.text["seed"] == str(seed) and image.text["prompt"] == prompt
        assert np.array_equal(np.asarray(image), _direct(pipe, prompt, seed))
    # one request runs at a time: the others waited in the queue and were told their place
    assert any(s.code == Status.IN_QUEUE and s.rank is not None and s.rank >= 1 for s in statuses)


def test_a_subject_file_from_the_api_generates_the_same_image_as_its_photo(server, pipe):
    client = api_client(server.url)
    subject_file = client.predict([handle_file(str(DOG))], "dog", api_name="/encode_subject")
    assert subject_file.endswith(".safetensors")
    _, files = _generate(client, subject_file, "in the snow", 3, subject_class="").result(timeout=TIMEOUT_S)
    assert np.array_equal(np.asarray(Image.open(files[0])), _direct(pipe, "in the snow", 3))


@pytest.mark.parametrize("extra, message", [
    ({"steps": 11}, "steps must be between 1 and 10 on this server (--max-steps), got 11"),
    ({"width": 130}, "width must be between 1 and 128 on this server (--max-side), got 130"),
    ({"width": 63}, "width must be a positive multiple of 2"),
    ({"num_images": 4}, "number of images must be between 1 and 3 on this server (--max-images), got 4"),
    ({"subject_class": ""}, "source_subject_category is required"),
])
def test_settings_over_the_limits_are_refused_with_their_message(server, extra, message):
    job = _generate(api_client(server.url), str(DOG), "on the beach", 0, **extra)
    with pytest.raises(AppError, match=re.escape(message)):
        job.result(timeout=TIMEOUT_S)


def test_an_oversize_upload_is_refused_by_the_client_and_the_server(server, tmp_path):
    big = tmp_path / "big.png"  # noise does not compress: about 0.46 MB
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (400, 400, 3), dtype=np.uint8)).save(big)
    cap = int(server.limits.max_upload_mb * 1024 * 1024)
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {cap} bytes"):
        _generate(api_client(server.url), str(big), "on the beach", 0).result(timeout=TIMEOUT_S)
    upload = {"files": ("big.png", big.read_bytes(), "image/png")}
    response = httpx.post(f"{server.url}gradio_api/upload", files=upload)
    assert response.status_code == 413 and f"maximum allowed size of {cap} bytes" in response.text
