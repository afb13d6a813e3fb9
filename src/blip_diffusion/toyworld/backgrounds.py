"""Procedural backgrounds, one painter per scene.

A painter takes a random generator and the image side and returns an (H, W, 3) float32 image in
[0, 1]. Every painter works in coordinates relative to the image side, so a scene looks the same at
any resolution, and draws with whole-array numpy operations. The random generator varies the details
(where the clouds, stones or leaves are, small shifts of colour) but never the kind of scene.
"""

from __future__ import annotations

import numpy as np

Colour = tuple[float, float, float]


def _grid(res: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres ``(y, x)``, each (H, W) in [0, 1]."""
    axis = (np.arange(res, dtype=np.float32) + 0.5) / res
    return np.broadcast_to(axis[:, None], (res, res)), np.broadcast_to(axis[None, :], (res, res))


def _noise(rng: np.random.Generator, res: int, cells: int) -> np.ndarray:
    """Smooth value noise in [-1, 1], (H, W): random values on a cells x cells lattice, bilinear."""
    lattice = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
    position = (np.arange(res, dtype=np.float32) + 0.5) / res * cells
    index = np.minimum(position.astype(int), cells - 1)
    frac = position - index
    rows = lattice[index] * (1 - frac[:, None]) + lattice[index + 1] * frac[:, None]  # (H, cells + 1)
    return rows[:, index] * (1 - frac[None, :]) + rows[:, index + 1] * frac[None, :]


def _fill(res: int, colour: Colour) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, dtype=np.float32), (res, res, 3)).copy()


def _blend(image: np.ndarray, weight: np.ndarray, colour: Colour | np.ndarray) -> np.ndarray:
    """Paint ``colour`` over ``image`` with per-pixel ``weight`` (H, W) or (H, W, 3) in [0, 1]."""
    weight = weight[..., None] if weight.ndim == 2 else weight
    return image * (1.0 - weight) + np.asarray(colour, dtype=np.float32) * weight


def _vertical(res: int, top: Colour, bottom: Colour, start: float = 0.0, end: float = 1.0) -> np.ndarray:
    y, _ = _grid(res)
    t = np.clip((y - start) / (end - start), 0.0, 1.0)[..., None]
    return np.asarray(top, dtype=np.float32) * (1 - t) + np.asarray(bottom, dtype=np.float32) * t


def _jitter(rng: np.random.Generator, colour: Colour, amount: float = 0.04) -> np.ndarray:
    return np.clip(np.asarray(colour, dtype=np.float32) + rng.uniform(-amount, amount, size=3), 0.0, 1.0)


def _spots(
    rng: np.random.Generator, res: int, count: int, radius: tuple[float, float], aspect: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """The topmost of ``count`` random ellipses at each pixel: its index (H, W), -1 where none, and
    the pixel's distance from its centre in ellipse radii (H, W)."""
    y, x = _grid(res)
    centres = rng.uniform(0.0, 1.0, size=(count, 2)).astype(np.float32)
    radii = rng.uniform(*radius, size=count).astype(np.float32)
    dy = (y[None] - centres[:, 0, None, None]) / (radii[:, None, None] * aspect)
    dx = (x[None] - centres[:, 1, None, None]) / radii[:, None, None]
    distance = np.sqrt(dx**2 + dy**2)  # (count, H, W)
    inside = distance < 1.0
    last = count - 1 - np.argmax(inside[::-1], axis=0)
    top = np.take_along_axis(distance, last[None], axis=0)[0]
    return np.where(inside.any(axis=0), last, -1), top


def _paint_spots(image: np.ndarray, spots: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Colour each ellipse index from ``_spots`` with ``palette[index % len(palette)]``."""
    colours = palette[np.mod(spots, len(palette))]
    return np.where((spots >= 0)[..., None], colours, image)


def _ground(res: int, image: np.ndarray, horizon: float, colour: np.ndarray) -> np.ndarray:
    y, _ = _grid(res)
    return np.where((y > horizon)[..., None], colour, image)


def _sky(
    rng: np.random.Generator, res: int, top: Colour = (0.35, 0.6, 0.92), bottom: Colour = (0.7, 0.85, 0.98)
) -> np.ndarray:
    return _vertical(res, tuple(_jitter(rng, top)), tuple(_jitter(rng, bottom)))


def jungle(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _fill(res, tuple(_jitter(rng, (0.04, 0.2, 0.07))))
    leaves = np.array([[0.1, 0.42, 0.12], [0.18, 0.55, 0.16], [0.06, 0.32, 0.1], [0.3, 0.5, 0.1]], np.float32)
    image = _paint_spots(image, _spots(rng, res, 26, (0.08, 0.18), aspect=0.45)[0], leaves)
    _, x = _grid(res)
    vines = np.abs(np.sin((x + rng.uniform()) * 9 * np.pi)) < 0.08
    return _blend(image, vines.astype(np.float32) * 0.8, (0.2, 0.13, 0.05))


def snow(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _sky(rng, res, (0.72, 0.76, 0.82), (0.86, 0.88, 0.92))
    y, x = _grid(res)
    drifts = 0.55 + 0.05 * np.sin(x * 2 * np.pi + rng.uniform(0, 6))
    image = np.where(
        (y > drifts)[..., None], _vertical(res, (0.97, 0.98, 1.0), (0.82, 0.87, 0.95), 0.5), image
    )
    flakes = _spots(rng, res, 40, (0.008, 0.018))[0] >= 0
    return _blend(image, flakes.astype(np.float32), (1.0, 1.0, 1.0))


def beach(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _sky(rng, res)
    y, x = _grid(res)
    shore = 0.5 + 0.03 * np.sin(x * 5 + rng.uniform(0, 6))
    image = np.where(((y > 0.35) & (y < shore))[..., None], _jitter(rng, (0.1, 0.45, 0.75)), image)
    image = _blend(image, (np.abs(y - shore) < 0.02).astype(np.float32), (0.97, 0.97, 0.95))
    sand = _jitter(rng, (0.93, 0.82, 0.56)) + 0.04 * _noise(rng, res, 12)[..., None]
    return np.where((y >= shore + 0.02)[..., None], sand, image)


def cobblestone(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    rows = 7
    row = np.floor(y * rows)
    shifted = x * rows * 0.8 + 0.5 * np.mod(row, 2) + rng.uniform()
    stone = np.floor(shifted) * 31 + row * 17
    shade = 0.42 + 0.12 * np.sin(stone * 12.9898 + rng.uniform(0, 6))
    gap = (np.abs(np.mod(shifted, 1) - 0.5) > 0.44) | (np.abs(np.mod(y * rows, 1) - 0.5) > 0.42)
    image = np.stack([shade, shade * 0.98, shade * 0.95], axis=-1)
    return _blend(image, gap.astype(np.float32), (0.18, 0.17, 0.16))


def pink_fabric(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    folds = np.sin((x * 1.3 + y) * 11 + 2 * _noise(rng, res, 3))
    return _jitter(rng, (0.95, 0.58, 0.74)) * (0.88 + 0.1 * folds)[..., None]


def wooden_floor(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    plank = np.floor(y * 6 + 0.3 * np.floor(x * 2 + rng.uniform()))
    shade = 0.85 + 0.12 * np.sin(plank * 7.31 + rng.uniform(0, 6))
    grain = 0.06 * np.sin(y * 120 + 3 * _noise(rng, res, 6))
    image = _jitter(rng, (0.62, 0.4, 0.22)) * (shade + grain)[..., None]
    seams = np.abs(np.mod(y * 6, 1) - 0.5) > 0.46
    return _blend(image, seams.astype(np.float32), (0.28, 0.16, 0.08))


def city(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _sky(rng, res, (0.25, 0.35, 0.6), (0.8, 0.6, 0.5))
    y, x = _grid(res)
    column = np.floor(x * 8)
    heights = rng.uniform(0.15, 0.55, size=8)[column.astype(int)]
    building = y > heights
    lit = (np.mod(x * 40, 1) < 0.45) & (np.mod(y * 40, 1) < 0.45) & (np.sin(column * 3.7 + y * 31) > 0.0)
    image = np.where(
        building[..., None], np.where(lit[..., None], (0.95, 0.85, 0.4), (0.22, 0.22, 0.28)), image
    )
    return _ground(res, image, 0.8, _jitter(rng, (0.38, 0.38, 0.4)))


def mountain(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _sky(rng, res)
    y, x = _grid(res)
    peak = rng.uniform(0.3, 0.7)
    ridge = 0.22 + 1.1 * np.abs(x - peak)
    image = np.where((y > ridge)[..., None], _jitter(rng, (0.45, 0.43, 0.48)), image)
    image = np.where(((y > ridge) & (y < 0.33))[..., None], (0.97, 0.97, 0.99), image)
    return _ground(res, image, 0.7 + 0.03 * np.sin(x * 7), _jitter(rng, (0.3, 0.62, 0.25)))


def blue_house(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _ground(res, _sky(rng, res), 0.65, _jitter(rng, (0.35, 0.68, 0.3)))
    y, x = _grid(res)
    left = rng.uniform(0.1, 0.4)
    walls = (x > left) & (x < left + 0.5) & (y > 0.35) & (y < 0.7)
    roof = (y > 0.12) & (y <= 0.35) & (np.abs(x - left - 0.25) < (y - 0.12) * 1.3)
    image = np.where(walls[..., None], _jitter(rng, (0.2, 0.4, 0.85)), image)
    image = np.where(roof[..., None], (0.6, 0.18, 0.15), image)
    door = (np.abs(x - left - 0.25) < 0.05) & (y > 0.52) & (y < 0.7)
    return np.where(door[..., None], (0.95, 0.95, 0.92), image)


def purple_rug(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    image = _fill(res, tuple(_jitter(rng, (0.12, 0.35, 0.15))))
    trunks = np.abs(np.sin((x + rng.uniform()) * 5 * np.pi)) > 0.93
    image = np.where(trunks[..., None], (0.35, 0.22, 0.12), image)
    rug = (y > 0.55) & (np.abs(x - 0.5) < 0.3 + (y - 0.55) * 0.4)
    rug_colour = _jitter(rng, (0.5, 0.2, 0.62)) * (0.9 + 0.1 * np.sin(y * 80))[..., None]
    return np.where(rug[..., None], rug_colour, image)


def wheat(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _sky(rng, res)
    y, x = _grid(res)
    stalks = 0.88 + 0.12 * np.sin(x * 90 + 4 * _noise(rng, res, 4))
    field = _jitter(rng, (0.86, 0.68, 0.25)) * stalks[..., None]
    return np.where((y > 0.32 + 0.02 * np.sin(x * 9))[..., None], field, image)


def autumn(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _vertical(res, tuple(_jitter(rng, (0.75, 0.7, 0.6))), (0.45, 0.3, 0.18))
    _, x = _grid(res)
    image = np.where((np.abs(x - rng.uniform(0.2, 0.8)) < 0.05)[..., None], (0.3, 0.18, 0.1), image)
    leaves = np.array(
        [[0.9, 0.45, 0.08], [0.8, 0.18, 0.08], [0.95, 0.75, 0.15], [0.65, 0.3, 0.1]], np.float32
    )
    return _paint_spots(image, _spots(rng, res, 40, (0.03, 0.07), aspect=0.6)[0], leaves)


def water(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    waves = np.sin(y * 50 + 0.6 * np.sin(x * 12 + rng.uniform(0, 6))) > 0.85
    image = _jitter(rng, (0.1, 0.42, 0.72)) * (0.9 + 0.15 * _noise(rng, res, 5))[..., None]
    return _blend(image, waves.astype(np.float32) * 0.6, (0.75, 0.9, 1.0))


def milk(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    ripples = np.sin(np.hypot(x - rng.uniform(), y - rng.uniform()) * 45)
    return _jitter(rng, (0.96, 0.94, 0.86), 0.02) * (0.95 + 0.04 * ripples)[..., None]


def sunflowers(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    grass = _jitter(rng, (0.3, 0.65, 0.2)) * (0.85 + 0.15 * np.sin(x * 150 + 5 * y))[..., None]
    flowers, distance = _spots(rng, res, 9, (0.06, 0.09))
    image = np.where((flowers >= 0)[..., None], (0.98, 0.82, 0.1), grass)
    return np.where(((flowers >= 0) & (distance < 0.4))[..., None], (0.4, 0.24, 0.08), image)


def brick_wall(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    rows = 9
    row = np.floor(y * rows)
    shifted = x * 4.5 + 0.5 * np.mod(row, 2)
    brick = np.floor(shifted) * 13 + row * 7
    shade = 0.85 + 0.12 * np.sin(brick * 4.7 + rng.uniform(0, 6))
    image = _jitter(rng, (0.68, 0.25, 0.16)) * shade[..., None]
    mortar = (np.abs(np.mod(shifted, 1) - 0.5) > 0.45) | (np.abs(np.mod(y * rows, 1) - 0.5) > 0.4)
    return _blend(image, mortar.astype(np.float32), (0.82, 0.8, 0.74))


def night_sky(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _vertical(res, tuple(_jitter(rng, (0.02, 0.03, 0.12))), (0.1, 0.12, 0.3))
    twinkles = _spots(rng, res, 30, (0.006, 0.012))[0] >= 0
    return _blend(image, twinkles.astype(np.float32), (1.0, 1.0, 0.85))


def dirt_road(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    image = _fill(res, tuple(_jitter(rng, (0.36, 0.55, 0.22))))
    half = 0.12 + 0.35 * y
    road = np.abs(x - 0.5) < half
    dirt = _jitter(rng, (0.55, 0.4, 0.25)) * (0.9 + 0.1 * _noise(rng, res, 10))[..., None]
    image = np.where(road[..., None], dirt, image)
    tracks = road & (np.abs(np.abs(x - 0.5) - half * 0.55) < 0.02)
    return _blend(image, tracks.astype(np.float32) * 0.7, (0.32, 0.22, 0.13))


def white_rug(rng: np.random.Generator, res: int) -> np.ndarray:
    fluff = 0.05 * _noise(rng, res, 16) + 0.03 * _noise(rng, res, 31)
    return _jitter(rng, (0.92, 0.9, 0.86), 0.02) + fluff[..., None]


def desert(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _sky(rng, res, (0.95, 0.75, 0.45), (0.98, 0.9, 0.7))
    y, x = _grid(res)
    dunes = 0.4 + 0.08 * np.sin(x * 6 + rng.uniform(0, 6))
    sand = _jitter(rng, (0.85, 0.55, 0.25)) * (0.9 + 0.1 * np.sin((y - dunes) * 40))[..., None]
    return np.where((y > dunes)[..., None], sand, image)


def table(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _fill(res, tuple(_jitter(rng, (0.78, 0.84, 0.74))))
    y, _ = _grid(res)
    return _ground(res, image, 0.42, _jitter(rng, (0.86, 0.84, 0.8)) * (1 - 0.15 * y)[..., None])


def sofa(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    cushions = 0.9 + 0.1 * np.cos(np.mod(x * 2.5 + rng.uniform(), 1) * 2 * np.pi) * (y < 0.5)
    return _jitter(rng, (0.5, 0.5, 0.53)) * (cushions - 0.1 * (y > 0.5))[..., None]


def bed(rng: np.random.Generator, res: int) -> np.ndarray:
    y, x = _grid(res)
    folds = np.sin(x * 9 + y * 4 + 2 * _noise(rng, res, 3))
    return _jitter(rng, (0.75, 0.84, 0.95), 0.03) * (0.93 + 0.06 * folds)[..., None]


def desk(rng: np.random.Generator, res: int) -> np.ndarray:
    image = _fill(res, tuple(_jitter(rng, (0.92, 0.92, 0.9), 0.02)))
    _, x = _grid(res)
    wood = (
        _jitter(rng, (0.3, 0.19, 0.12)) * (0.9 + 0.08 * np.sin(x * 70 + 3 * _noise(rng, res, 4)))[..., None]
    )
    return _ground(res, image, 0.38, wood)
