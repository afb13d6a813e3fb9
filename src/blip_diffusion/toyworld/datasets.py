"""Training data of the toy world: image-caption pairs, stage-2 subject material, backgrounds.

Each data set is a sequence: item ``i`` of a data set built with seed ``s`` depends on ``(s, i)``
alone, so items can be drawn in any order, by any number of workers, and the same seed always gives
byte-identical data. Every subject in these sets lies on the training side of the ToyBench split
(:func:`blip_diffusion.toyworld.subjects.is_held_out` is False).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from blip_diffusion.toyworld.photos import Photo, random_photo
from blip_diffusion.toyworld.scenes import SCENE_NAMES, paint_background
from blip_diffusion.toyworld.subjects import random_subject

DEFAULT_RESOLUTION = 64
# Separate random streams, so the same seed gives unrelated pictures in different data sets.
_CAPTIONS, _SUBJECTS, _BACKGROUNDS = 1, 2, 3


def item_rng(seed: int, stream: int, index: int) -> np.random.Generator:
    """The random generator of one item of one data set."""
    return np.random.default_rng([seed, stream, index])


def _check(length: int, resolution: int) -> None:
    if length < 0:
        raise ValueError(f"length={length}; expected a count >= 0")
    if resolution < 16:
        raise ValueError(f"resolution={resolution}; expected at least 16 pixels")


class _Sequence:
    def __init__(self, length: int, seed: int = 0, resolution: int = DEFAULT_RESOLUTION) -> None:
        _check(length, resolution)
        self.length, self.seed, self.resolution = length, seed, resolution

    def __len__(self) -> int:
        return self.length

    def _index(self, index: int) -> int:
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {self.length}")
        return index % self.length


class CaptionDataset(_Sequence):
    """Image-caption pairs for base text-to-image and stage-1 training.

    Item ``i`` is a :class:`Photo` of a random training subject in a random scene (any of the 24);
    ``photo.caption`` is its full description and ``photo.prompt`` its class-plus-context prompt.
    """

    def __getitem__(self, index: int) -> Photo:
        rng = item_rng(self.seed, _CAPTIONS, self._index(index))
        return random_photo(rng, random_subject(rng, held_out=False), self.resolution)


class BackgroundPool(_Sequence):
    """Backgrounds without a subject, for stage 2's random-background composites: (H, W, 3) uint8."""

    def __getitem__(self, index: int) -> np.ndarray:
        rng = item_rng(self.seed, _BACKGROUNDS, self._index(index))
        scene = SCENE_NAMES[rng.integers(len(SCENE_NAMES))]
        return np.round(paint_background(scene, rng, self.resolution) * 255.0).astype(np.uint8)


@dataclasses.dataclass(frozen=True, eq=False)
class SubjectSample:
    """Stage-2 material ("prompted context generation", paper section 3.2).

    ``target`` is the photo to generate, with its caption; ``source`` (H, W, 3) uint8 is the same
    subject cut out with its exact alpha and put on ``background`` (H, W, 3) uint8 from the pool:
    the image the subject encoder sees.
    """

    target: Photo
    background: np.ndarray
    source: np.ndarray


class SubjectDataset(_Sequence):
    """Stage-2 samples; the random backgrounds come from a :class:`BackgroundPool` of
    ``pool_size`` items with the same seed and resolution."""

    def __init__(
        self, length: int, seed: int = 0, resolution: int = DEFAULT_RESOLUTION, pool_size: int = 4096
    ) -> None:
        super().__init__(length, seed, resolution)
        if pool_size < 1:
            raise ValueError(f"pool_size={pool_size}; expected at least 1")
        self.pool = BackgroundPool(pool_size, seed, resolution)

    def __getitem__(self, index: int) -> SubjectSample:
        rng = item_rng(self.seed, _SUBJECTS, self._index(index))
        target = random_photo(rng, random_subject(rng, held_out=False), self.resolution)
        background = self.pool[int(rng.integers(len(self.pool)))]
        return SubjectSample(target, background, target.on_background(background / 255.0))
