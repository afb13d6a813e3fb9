"""Scenes, prompts and captions of the toy world.

Twenty context scenes follow DreamBench's context prompts ("on the beach", "in the snow", ...); four
more indoor scenes are kept for the reference photos of ToyBench subjects, the way DreamBench's
photos were taken at home, so that a model that pastes its reference photo is caught by its
background. Five property prompts per subject change one attribute on purpose, like DreamBench's
"a red {class}" and "a shiny {class}".

Prompts are patterns with a ``{class}`` slot, like DreamBench's with the unique token removed
(``a {class} in the jungle``, ``a red {class}``), so the project's DreamBench machinery can run them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from blip_diffusion.toyworld import backgrounds
from blip_diffusion.toyworld.subjects import COLOURS, FINISHES, PATTERNS, Subject

Painter = Callable[[np.random.Generator, int], np.ndarray]


@dataclasses.dataclass(frozen=True)
class Scene:
    name: str
    phrase: str  # the words a prompt uses for it, e.g. "on the beach"
    paint: Painter


CONTEXT_SCENES: tuple[Scene, ...] = (
    Scene("jungle", "in the jungle", backgrounds.jungle),
    Scene("snow", "in the snow", backgrounds.snow),
    Scene("beach", "on the beach", backgrounds.beach),
    Scene("cobblestone", "on a cobblestone street", backgrounds.cobblestone),
    Scene("pink_fabric", "on top of pink fabric", backgrounds.pink_fabric),
    Scene("wooden_floor", "on top of a wooden floor", backgrounds.wooden_floor),
    Scene("city", "with a city in the background", backgrounds.city),
    Scene("mountain", "with a mountain in the background", backgrounds.mountain),
    Scene("blue_house", "with a blue house in the background", backgrounds.blue_house),
    Scene("purple_rug", "on top of a purple rug in a forest", backgrounds.purple_rug),
    Scene("wheat", "with a wheat field in the background", backgrounds.wheat),
    Scene("autumn", "with a tree and autumn leaves in the background", backgrounds.autumn),
    Scene("water", "floating on top of water", backgrounds.water),
    Scene("milk", "floating in an ocean of milk", backgrounds.milk),
    Scene("sunflowers", "on top of green grass with sunflowers around it", backgrounds.sunflowers),
    Scene("brick_wall", "in front of a brick wall", backgrounds.brick_wall),
    Scene("night_sky", "under a night sky", backgrounds.night_sky),
    Scene("dirt_road", "on top of a dirt road", backgrounds.dirt_road),
    Scene("white_rug", "on top of a white rug", backgrounds.white_rug),
    Scene("desert", "in the desert", backgrounds.desert),
)
REFERENCE_SCENES: tuple[Scene, ...] = (
    Scene("table", "on a table", backgrounds.table),
    Scene("sofa", "on a grey sofa", backgrounds.sofa),
    Scene("bed", "on a bed", backgrounds.bed),
    Scene("desk", "on a desk", backgrounds.desk),
)
SCENES: dict[str, Scene] = {scene.name: scene for scene in CONTEXT_SCENES + REFERENCE_SCENES}
SCENE_NAMES: tuple[str, ...] = tuple(SCENES)
CONTEXT_NAMES: tuple[str, ...] = tuple(scene.name for scene in CONTEXT_SCENES)
REFERENCE_NAMES: tuple[str, ...] = tuple(scene.name for scene in REFERENCE_SCENES)

# Colours a property prompt may ask for: "orange" would need "an", which the "a {class}" form lacks.
PROMPT_COLOURS: tuple[str, ...] = tuple(colour for colour in COLOURS if colour != "orange")


def paint_background(scene_name: str, rng: np.random.Generator, resolution: int) -> np.ndarray:
    """The background of ``scene_name``: (H, W, 3) float32 in [0, 1]."""
    if scene_name not in SCENES:
        raise ValueError(f"scene_name={scene_name!r}; expected one of {SCENE_NAMES}")
    return np.clip(SCENES[scene_name].paint(rng, resolution), 0.0, 1.0).astype(np.float32)


CLASS_SLOT = "{class}"


@dataclasses.dataclass(frozen=True)
class Prompt:
    """A prompt of subject-driven generation, written as a pattern such as ``a {class} on the beach``.

    ``changes`` lists what the prompt asks to differ from the reference subject, as
    (attribute, value) pairs: identity attributes of :class:`Subject` or ``"size"``.
    """

    kind: str  # "context" or "property"
    pattern: str  # "a {class} on the beach", "a red {class}"
    scene: str | None = None  # the scene a context prompt asks for
    changes: tuple[tuple[str, str], ...] = ()

    def text(self, class_name: str) -> str:
        """The prompt for one class word: ``a star on the beach``."""
        return self.pattern.replace(CLASS_SLOT, class_name)


def context_prompts() -> list[Prompt]:
    """The 20 context prompts, e.g. ``a {class} on the beach``."""
    return [Prompt("context", f"a {CLASS_SLOT} {scene.phrase}", scene.name) for scene in CONTEXT_SCENES]


def _next(vocabulary: tuple[str, ...], current: str, avoid: tuple[str, ...] = ()) -> str:
    """The word after ``current`` in ``vocabulary`` (cyclically) that is neither it nor in ``avoid``."""
    start = vocabulary.index(current) if current in vocabulary else -1
    for step in range(1, len(vocabulary) + 1):
        word = vocabulary[(start + step) % len(vocabulary)]
        if word != current and word not in avoid:
            return word
    raise ValueError(f"no word of {vocabulary} differs from {current!r} and {avoid}")


def property_prompts(subject: Subject) -> list[Prompt]:
    """The 5 property prompts of a subject: another body colour, pattern and finish; large; small."""
    colour = _next(PROMPT_COLOURS, subject.colour, avoid=(subject.accent,))
    pattern = _next(PATTERNS, subject.pattern)
    finish = _next(FINISHES, subject.finish)
    changes = (
        ("colour", colour),
        ("pattern", pattern),
        ("finish", finish),
        ("size", "large"),
        ("size", "small"),
    )
    return [Prompt("property", f"a {value} {CLASS_SLOT}", None, ((name, value),)) for name, value in changes]


def caption(subject: Subject, scene_name: str | None, size: str) -> str:
    """The full description of a picture, e.g. ``a large shiny red and white striped star on the beach``.

    Medium is the unmarked size and is not written.
    """
    size_word = "" if size == "medium" else f"{size} "
    place = "" if scene_name is None else f" {SCENES[scene_name].phrase}"
    return f"a {size_word}{subject.description()}{place}"


def class_prompt(class_name: str, scene_name: str) -> str:
    """The class-plus-context prompt of subject-driven generation, e.g. ``a star on the beach``."""
    return f"a {class_name} {SCENES[scene_name].phrase}"
