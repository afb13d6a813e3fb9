"""The work list of an evaluation: one seeded request per (subject, prompt, sample), and its shards.

Each request's seed depends only on the base seed and the request's own (subject, prompt, sample), so
an image is the same whether it is made alone, in another shard, or after a resumed run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from blip_diffusion.errors import InputError
from blip_diffusion.evaluation.dreambench import Prompt, Subject

IMAGES_DIR = "images"


@dataclass(frozen=True)
class GenerationRequest:
    """One image to generate: ``subject`` photos + ``prompt`` (class word filled in) with ``seed``."""

    subject: str
    class_word: str
    prompt: Prompt
    sample: int
    seed: int

    @property
    def text(self) -> str:
        """The prompt with the class word, e.g. ``"a dog in the jungle"``: what CLIP-T compares to."""
        return self.prompt.format(self.class_word)

    @property
    def relative_path(self) -> str:
        """Where the image goes below the output folder: ``images/dog/03_01.png``."""
        return f"{IMAGES_DIR}/{self.subject}/{self.prompt.index:02d}_{self.sample:02d}.png"


def request_seed(base_seed: int, subject: str, prompt_index: int, sample: int) -> int:
    """A 63-bit seed from a hash of the request, stable across processes and Python runs."""
    digest = hashlib.sha256(f"{base_seed}/{subject}/{prompt_index}/{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def build_requests(
    subjects: Sequence[Subject], images_per_prompt: int, seed: int, max_prompts: int | None = None
) -> list[GenerationRequest]:
    """Every (subject, prompt, sample), in that order; ``max_prompts`` keeps each subject's first prompts."""
    if images_per_prompt < 1:
        raise InputError(f"images per prompt must be at least 1, got {images_per_prompt}")
    if max_prompts is not None and max_prompts < 1:
        raise InputError(f"max prompts must be at least 1, got {max_prompts}")
    return [
        GenerationRequest(
            subject.name,
            subject.class_word,
            prompt,
            sample,
            request_seed(seed, subject.name, prompt.index, sample),
        )
        for subject in subjects
        for prompt in subject.prompts[:max_prompts]
        for sample in range(images_per_prompt)
    ]


def shard(requests: Sequence[GenerationRequest], index: int, count: int) -> list[GenerationRequest]:
    """Process ``index`` of ``count``'s share: every ``count``-th request, starting at ``index``."""
    if not 0 <= index < count:
        raise ValueError(f"shard index {index} is outside 0..{count - 1}")
    return list(requests[index::count])


def image_path(out_dir: Path, request: GenerationRequest) -> Path:
    """The request's image file under the output folder."""
    return Path(out_dir) / request.relative_path
