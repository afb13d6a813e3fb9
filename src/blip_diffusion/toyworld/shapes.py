"""Class silhouettes as signed distance functions.

Every shape lives in the subject's own frame: ``u`` to the right, ``v`` down, in units of the
subject's radius, and fits inside the unit disc. A signed distance (negative inside) gives the exact
anti-aliased coverage of each pixel, a border of fixed width and a depth for shading, all without
supersampling.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Sdf = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _circle(u: np.ndarray, v: np.ndarray, cu: float, cv: float, radius: float) -> np.ndarray:
    return np.hypot(u - cu, v - cv) - radius


def _polygon(u: np.ndarray, v: np.ndarray, vertices: list[tuple[float, float]]) -> np.ndarray:
    """Exact distance to a closed polygon, sign by the even-odd rule (after I. Quilez, sdPolygon)."""
    points = np.asarray(vertices, dtype=np.float32)
    squared = (u - points[0, 0]) ** 2 + (v - points[0, 1]) ** 2
    inside = np.zeros(u.shape, dtype=bool)
    for (au, av), (bu, bv) in zip(points, np.roll(points, -1, axis=0)):
        eu, ev = bu - au, bv - av
        wu, wv = u - au, v - av
        t = np.clip((wu * eu + wv * ev) / (eu * eu + ev * ev), 0.0, 1.0)
        squared = np.minimum(squared, (wu - eu * t) ** 2 + (wv - ev * t) ** 2)
        crosses = (v >= av) != (v >= bv)
        left = eu * wv - ev * wu
        inside ^= crosses & ((left > 0) == (bv > av))
    return np.where(inside, -1.0, 1.0).astype(np.float32) * np.sqrt(squared)


def _ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, au: float, av: float) -> np.ndarray:
    # A scaled circle: exact on the boundary, which is all the anti-aliasing needs.
    return (np.hypot((u - cu) / au, (v - cv) / av) - 1.0) * min(au, av)


def star(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    angles = -np.pi / 2 + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, 0.97, 0.42)
    return _polygon(u, v + 0.06, list(zip(radii * np.cos(angles), radii * np.sin(angles))))


def ball(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _circle(u, v, 0.0, 0.0, 0.9)


def box(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    du, dv = np.abs(u) - 0.58, np.abs(v) - 0.58
    outside = np.hypot(np.maximum(du, 0.0), np.maximum(dv, 0.0))
    return outside + np.minimum(np.maximum(du, dv), 0.0) - 0.08


def kite(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return _polygon(u, v, [(0.0, -0.96), (0.62, -0.3), (0.0, 0.96), (-0.62, -0.3)])


def heart(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """I. Quilez's exact heart (sdHeart), scaled to the unit disc; its frame has y up."""
    scale = 1.55
    x, y = np.abs(u) / scale, (0.95 - v) / scale
    upper = np.hypot(x - 0.25, y - 0.75) - np.sqrt(2.0) / 4.0
    fold = np.maximum(x + y, 0.0) * 0.5
    lower = np.sqrt(np.minimum(x**2 + (y - 1.0) ** 2, (x - fold) ** 2 + (y - fold) ** 2)) * np.sign(x - y)
    return np.where(x + y > 1.0, upper, lower) * scale


def moon(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.maximum(_circle(u, v, 0.0, 0.0, 0.92), -_circle(u, v, 0.5, -0.22, 0.66))


def ring(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    return np.abs(np.hypot(u, v) - 0.66) - 0.28


def cup(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    body = _polygon(u, v, [(-0.68, -0.62), (0.36, -0.62), (0.24, 0.66), (-0.56, 0.66)])
    handle = np.maximum(np.abs(_circle(u, v, 0.34, -0.02, 0.34)) - 0.1, 0.3 - u)
    return np.minimum(body, handle)


def bell(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    dome = _circle(u, v, 0.0, -0.3, 0.46)
    flare = _polygon(u, v, [(-0.46, -0.3), (0.46, -0.3), (0.78, 0.5), (-0.78, 0.5)])
    clapper = _circle(u, v, 0.0, 0.66, 0.2)
    knob = _circle(u, v, 0.0, -0.8, 0.13)
    return np.minimum(np.minimum(dome, flare), np.minimum(clapper, knob))


def fish(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    body = _ellipse(u, v, -0.22, 0.0, 0.68, 0.44)
    tail = _polygon(u, v, [(0.3, 0.0), (0.92, -0.5), (0.92, 0.5)])
    return np.minimum(body, tail)


SHAPES: dict[str, Sdf] = {
    "star": star,
    "ball": ball,
    "box": box,
    "kite": kite,
    "heart": heart,
    "moon": moon,
    "ring": ring,
    "cup": cup,
    "bell": bell,
    "fish": fish,
}

# Where the specular highlight of a shiny subject sits, inside each silhouette (subject frame).
HIGHLIGHTS: dict[str, tuple[float, float]] = {
    "star": (-0.12, -0.18),
    "ball": (-0.3, -0.3),
    "box": (-0.28, -0.28),
    "kite": (-0.12, -0.28),
    "heart": (-0.35, -0.25),
    "moon": (-0.6, 0.05),
    "ring": (-0.47, -0.47),
    "cup": (-0.3, -0.25),
    "bell": (-0.15, -0.4),
    "fish": (-0.4, -0.12),
}
