"""A "photo": one subject rendered in one scene, with everything needed to check it exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image

from blip_diffusion.toyworld.render import (
    Lighting,
    Pose,
    composite,
    random_lighting,
    random_pose,
    render_subject,
)
from blip_diffusion.toyworld.scenes import SCENE_NAMES, caption, class_prompt, paint_background
from blip_diffusion.toyworld.subjects import IDENTITY_ATTRIBUTES, VOCABULARIES, Subject

# What Photo.labels() holds: the number of values of each identity attribute and of the scene
LABEL_VALUES: dict[str, int] = {**{name: len(VOCABULARIES[name]) for name in IDENTITY_ATTRIBUTES},
                                "scene": len(SCENE_NAMES)}


@dataclasses.dataclass(frozen=True, eq=False)
class Photo:
    """A rendered picture and its ground truth.

    ``image`` (H, W, 3) uint8 is ``alpha * foreground + (1 - alpha) * background`` rounded;
    ``alpha`` (H, W) float32 is the exact coverage of the subject; ``foreground`` (H, W, 3) float32
    is the subject's colour, so the subject can be put on another background without a halo.
    """

    image: np.ndarray
    alpha: np.ndarray
    foreground: np.ndarray
    subject: Subject
    scene: str
    pose: Pose
    lighting: Lighting

    @property
    def caption(self) -> str:
        """Full description: ``a large shiny red and white striped star on the beach``."""
        return caption(self.subject, self.scene, self.pose.size)

    @property
    def prompt(self) -> str:
        """Class-plus-context prompt: ``a star on the beach``."""
        return class_prompt(self.subject.class_name, self.scene)

    def labels(self) -> dict[str, int]:
        """Index of every identity attribute in its vocabulary and of the scene in ``SCENE_NAMES``."""
        return {**self.subject.labels(), "scene": SCENE_NAMES.index(self.scene)}

    def caption_with(self, attribute: str, value: str) -> str:
        """The full description with one identity attribute or the ``"scene"`` set to ``value``: a
        caption that this photo does not match (a contrastive hard negative). A body colour equal to
        the accent (or the reverse) swaps the two, since a subject's colours always differ."""
        if attribute == "scene":
            return caption(self.subject, value, self.pose.size)
        changes = {attribute: value}
        twin = {"colour": "accent", "accent": "colour"}.get(attribute)
        if twin and getattr(self.subject, twin) == value:
            changes[twin] = getattr(self.subject, attribute)
        return caption(self.subject.with_changes(**changes), self.scene, self.pose.size)

    def on_background(self, background: np.ndarray) -> np.ndarray:
        """The subject alone over ``background`` (H, W, 3) float in [0, 1]; returns (H, W, 3) uint8."""
        return composite(self.foreground, self.alpha, background)

    def pil(self) -> Image.Image:
        return Image.fromarray(self.image)

    def mask_pil(self) -> Image.Image:
        """The alpha mask as an 8-bit greyscale picture (rounded to 1/255)."""
        return Image.fromarray(np.round(self.alpha * 255.0).astype(np.uint8))


def render_photo(
    subject: Subject, scene: str, pose: Pose, lighting: Lighting, rng: np.random.Generator, resolution: int
) -> Photo:
    """Render ``subject`` in ``scene``; ``rng`` draws the details of the background."""
    foreground, alpha = render_subject(subject, pose, resolution, lighting)
    background = paint_background(scene, rng, resolution)
    image = composite(foreground, alpha, background)
    return Photo(image, alpha, foreground, subject, scene, pose, lighting)


def random_photo(
    rng: np.random.Generator,
    subject: Subject,
    resolution: int,
    scenes: tuple[str, ...] = SCENE_NAMES,
    size: str | None = None,
) -> Photo:
    """A photo of ``subject`` in a random scene of ``scenes``, random pose (of ``size`` if given)
    and random lighting."""
    scene = scenes[rng.integers(len(scenes))]
    pose = random_pose(rng, size)
    return render_photo(subject, scene, pose, random_lighting(rng), rng, resolution)
