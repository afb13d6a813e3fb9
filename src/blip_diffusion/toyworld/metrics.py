"""ToyBench's measurements of one generated picture, from what the oracle reads in it.

- subject fidelity: share of the reference subject's identity attributes (class, body colour,
  accent colour, pattern, finish) read in the picture; an attribute a property prompt changes on
  purpose is left out.
- identity cosine: mean cosine between the picture's identity embedding and those of the reference
  photos (the analogue of DINO and CLIP-I).
- text fidelity: share of what the prompt asks for that is read in the picture: the class, and the
  scene (context prompts) or the changed attribute (property prompts) (the analogue of CLIP-T).
- copy: the picture shows a reference photo's background (background copy: the reference scenes
  are never asked for) or a reference photo's pose, centre and radius within the oracle's
  tolerances (pose copy).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from blip_diffusion.toyworld.oracle import POSITION_TOLERANCE, RADIUS_TOLERANCE
from blip_diffusion.toyworld.scenes import Prompt
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, Subject

SCORES = ("subject_fidelity", "identity_cosine", "text_fidelity", "copy", "background_copy", "pose_copy")


@dataclasses.dataclass(frozen=True)
class ImageScore:
    subject_fidelity: float
    identity_cosine: float
    text_fidelity: float
    background_copy: bool
    pose_copy: bool

    @property
    def copy(self) -> bool:
        return self.background_copy or self.pose_copy


def subject_fidelity(read: Mapping[str, str], reference: Subject, prompt: Prompt) -> float:
    """Share of identity attributes of ``reference`` found in ``read`` (attribute -> word), leaving
    out those ``prompt`` changes."""
    changed = {name for name, _ in prompt.changes}
    kept = [name for name in IDENTITY_ATTRIBUTES if name not in changed]
    return sum(read[name] == getattr(reference, name) for name in kept) / len(kept)


def text_fidelity(read: Mapping[str, str], class_name: str, prompt: Prompt) -> float:
    """Share of what ``prompt`` (with ``class_name`` in its slot) asks for that ``read`` shows."""
    asked = [("class_name", class_name), *prompt.changes]
    if prompt.scene is not None:
        asked.append(("scene", prompt.scene))
    return sum(read[name] == value for name, value in asked) / len(asked)


def identity_cosine(embedding: np.ndarray, references: np.ndarray) -> float:
    """Mean cosine of one embedding (D,) with each reference embedding (K, D)."""
    unit = embedding / np.linalg.norm(embedding)
    others = references / np.linalg.norm(references, axis=1, keepdims=True)
    return float(np.mean(others @ unit))


def background_copy(read_scene: str, prompt: Prompt, reference_scenes: Sequence[str]) -> bool:
    """Whether the picture shows a reference photo's scene that the prompt did not ask for."""
    return read_scene in reference_scenes and read_scene != prompt.scene


def pose_copy(pose: np.ndarray, reference_poses: np.ndarray) -> bool:
    """Whether a pose (cx, cy, radius) matches any reference pose (K, 3) within the oracle's tolerances."""
    centre = np.hypot(reference_poses[:, 0] - pose[0], reference_poses[:, 1] - pose[1]) <= POSITION_TOLERANCE
    radius = np.abs(reference_poses[:, 2] - pose[2]) <= RADIUS_TOLERANCE
    return bool(np.any(centre & radius))


@dataclasses.dataclass(frozen=True, eq=False)
class Expectation:
    """What a picture answering ``prompt`` about ``reference`` is compared with: the reference
    photos' scenes, true poses (K, 3) and oracle embeddings (K, D)."""

    reference: Subject
    prompt: Prompt
    reference_scenes: tuple[str, ...]
    reference_poses: np.ndarray
    reference_embeddings: np.ndarray


def score_image(
    read: Mapping[str, str], embedding: np.ndarray, pose: np.ndarray, expected: Expectation
) -> ImageScore:
    """All measurements of one picture from its oracle reading (words, embedding (D,), pose (3,))."""
    return ImageScore(
        subject_fidelity=subject_fidelity(read, expected.reference, expected.prompt),
        identity_cosine=identity_cosine(embedding, expected.reference_embeddings),
        text_fidelity=text_fidelity(read, expected.reference.class_name, expected.prompt),
        background_copy=background_copy(read["scene"], expected.prompt, expected.reference_scenes),
        pose_copy=pose_copy(pose, expected.reference_poses),
    )


def mean_scores(scores: Sequence[ImageScore]) -> dict[str, float]:
    """Mean of every measurement over ``scores`` (copies as rates), plus their count as ``images``."""
    if not scores:
        return {"images": 0}
    means = {name: float(np.mean([float(getattr(score, name)) for score in scores])) for name in SCORES}
    return {**means, "images": len(scores)}
