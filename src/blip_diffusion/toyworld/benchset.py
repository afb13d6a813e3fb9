"""ToyBench: the held-out subjects, their reference photos, prompts and ground-truth renders.

Modelled on DreamBench (30 subjects x 25 prompts x 4 samples): subject ``i`` has class
``CLASSES[i % 10]``, a pattern and finish that cycle so that every prefix of the list is balanced,
and colours drawn so that its combination lies on the held-out side of the split: no training set
ever shows it; it comes with 4 to 6 reference photos taken in the four indoor
reference scenes, and is asked for in 20 context prompts and 5 property prompts. Everything is a
pure function of the fixed :data:`BENCH_SEED`, so the benchmark never changes under anyone's feet.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from blip_diffusion.toyworld.photos import Photo, random_photo
from blip_diffusion.toyworld.scenes import (
    CONTEXT_NAMES,
    REFERENCE_NAMES,
    Prompt,
    context_prompts,
    property_prompts,
)
from blip_diffusion.toyworld.subjects import (
    CLASSES,
    COLOURS,
    FINISHES,
    IDENTITY_ATTRIBUTES,
    PATTERNS,
    Subject,
    is_held_out,
)

BENCH_SEED = 20230524  # arXiv 2305.14720
MAX_SUBJECTS = 100
REFERENCE_COUNTS = (4, 6)  # inclusive range of reference photos per subject


@dataclasses.dataclass(frozen=True, eq=False)
class BenchSubject:
    index: int
    subject: Subject
    references: tuple[Photo, ...]

    @property
    def name(self) -> str:
        """Folder-safe name, e.g. ``03-kite-blue-pink-dotted-matte``."""
        return f"{self.index:02d}-{self.subject.subject_id}"


def bench_subjects(count: int = 30, resolution: int = 64) -> list[BenchSubject]:
    """The first ``count`` ToyBench subjects (the same ones at every resolution)."""
    if not 1 <= count <= MAX_SUBJECTS:
        raise ValueError(f"count={count}; expected 1 to {MAX_SUBJECTS} subjects")
    chosen: list[BenchSubject] = []
    for index in range(count):
        rng = np.random.default_rng([BENCH_SEED, index])
        subject = _held_out_subject(rng, index, {b.subject for b in chosen})
        references = tuple(
            random_photo(rng, subject, resolution, scenes=REFERENCE_NAMES)
            for _ in range(int(rng.integers(REFERENCE_COUNTS[0], REFERENCE_COUNTS[1] + 1)))
        )
        chosen.append(BenchSubject(index, subject, references))
    return chosen


def _held_out_subject(rng: np.random.Generator, index: int, taken: set[Subject]) -> Subject:
    turn = index + index // len(CLASSES)  # shifts the pattern and finish cycles once per round of classes
    while True:
        colour, accent = rng.choice(len(COLOURS), size=2, replace=False)
        subject = Subject(
            class_name=CLASSES[index % len(CLASSES)],
            colour=COLOURS[colour],
            accent=COLOURS[accent],
            pattern=PATTERNS[turn % len(PATTERNS)],
            finish=FINISHES[turn % len(FINISHES)],
        )
        if is_held_out(subject) and subject not in taken:
            return subject


def bench_prompts(subject: Subject) -> list[Prompt]:
    """The 25 prompts of a subject: 20 context prompts, then 5 property prompts."""
    return context_prompts() + property_prompts(subject)


def prompt_target(subject: Subject, prompt: Prompt) -> tuple[Subject, str | None]:
    """What ``prompt`` asks for: the subject with its identity changes, and the size word (or None)."""
    changes = dict(prompt.changes)
    size = changes.pop("size", None)
    unknown = set(changes) - set(IDENTITY_ATTRIBUTES)
    if unknown:
        raise ValueError(
            f"prompt {prompt.pattern!r} changes {sorted(unknown)}; "
            f"expected attributes of {IDENTITY_ATTRIBUTES}"
        )
    return subject.with_changes(**changes), size


def truth_photo(bench_subject: BenchSubject, prompt_index: int, sample: int, resolution: int = 64) -> Photo:
    """A ground-truth answer to prompt ``prompt_index``: the asked-for subject in the asked-for
    scene (a random context scene for property prompts), random pose and lighting."""
    prompt = bench_prompts(bench_subject.subject)[prompt_index]
    subject, size = prompt_target(bench_subject.subject, prompt)
    rng = np.random.default_rng([BENCH_SEED, bench_subject.index, prompt_index, sample, 1])
    scenes = CONTEXT_NAMES if prompt.scene is None else (prompt.scene,)
    return random_photo(rng, subject, resolution, scenes=scenes, size=size)
