"""A large, diverse 2D-teacher corpus: fresh procedural shapes drawn on the fly (issue #15, part 3).

The paper's premise is a 2D model that saw far more (and more varied) data than the 3D pre-training
set. The stand-in teacher therefore trains on shapes drawn fresh for every batch from a *wider* world
than the 15 evaluation classes: the 15 builders of :mod:`i2pmae.data.synth` plus 12 more families,
each with random deformations (anisotropic scale, taper, twist, bend) and, half of the time, a
uniformly random 3D rotation. Corpus shapes come from their own seed stream ``(CORPUS_TAG, seed, i)``,
so they never coincide with the built-in train/test draws (``(seed, class, i)``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from i2pmae.data.synth import (BUILDERS, ROT_X90, Part, Z_UP_TO_Y_UP, _rotation, box, ellipsoid, frustum, quad,
                               torus, triangles)

CORPUS_TAG = 0xC0A9  # separates corpus seed streams from the built-in draws


def _stool(rng: np.random.Generator) -> list[Part]:
    r, h, legs = rng.uniform(0.3, 0.5), rng.uniform(0.5, 0.9), int(rng.integers(3, 5))
    parts = [frustum((0, 0, h), r, r, rng.uniform(0.04, 0.1))]
    for a in np.arange(legs) * 2 * np.pi / legs:
        parts.append(frustum((0.7 * r * np.cos(a), 0.7 * r * np.sin(a), 0), 0.03, 0.03, h, bottom=False, top=False))
    return parts


def _bench(rng: np.random.Generator) -> list[Part]:
    w, d, h, t = rng.uniform(1.6, 2.4), rng.uniform(0.3, 0.5), rng.uniform(0.35, 0.5), rng.uniform(0.04, 0.08)
    return [box((0, 0, h), (w, d, t))] + [box((sx * (w / 2 - 0.1), 0, h / 2), (0.06, d, h), skip=(4, 5))
                                          for sx in (-1, 1)]


def _bowl(rng: np.random.Generator) -> list[Part]:
    r = rng.uniform(0.6, 1.0)
    return [ellipsoid((0, 0, 0), (r, r, r * rng.uniform(0.4, 0.9)), lower_only=True)]


def _vase(rng: np.random.Generator) -> list[Part]:
    r0, r1, r2 = rng.uniform(0.2, 0.35), rng.uniform(0.35, 0.6), rng.uniform(0.1, 0.3)
    h0, h1 = rng.uniform(0.4, 0.9), rng.uniform(0.4, 0.9)
    return [frustum((0, 0, 0), r0, r1, h0, top=False), frustum((0, 0, h0), r1, r2, h1, bottom=False, top=False)]


def _dumbbell(rng: np.random.Generator) -> list[Part]:
    length, r = rng.uniform(1.0, 1.8), rng.uniform(0.25, 0.45)
    bar = frustum((0, 0, -length / 2), 0.06, 0.06, length, bottom=False, top=False)
    return [bar, ellipsoid((0, 0, length / 2), (r, r, r)), ellipsoid((0, 0, -length / 2), (r, r, r))]


def _snowman(rng: np.random.Generator) -> list[Part]:
    radii = np.sort(rng.uniform(0.2, 0.6, int(rng.integers(2, 4))))[::-1]
    z, parts = 0.0, []
    for r in radii:
        parts.append(ellipsoid((0, 0, z + r), (r, r, r)))
        z += 1.8 * r
    return parts


def _arch(rng: np.random.Generator) -> list[Part]:
    w, h, t = rng.uniform(0.8, 1.6), rng.uniform(0.8, 1.6), rng.uniform(0.1, 0.25)
    return [box((sx * w / 2, 0, h / 2), (t, t, h)) for sx in (-1, 1)] + [box((0, 0, h + t / 2), (w + t, t, t))]


def _rocket(rng: np.random.Generator) -> list[Part]:
    r, h, nose = rng.uniform(0.15, 0.3), rng.uniform(1.0, 1.8), rng.uniform(0.3, 0.6)
    fins = [box((np.cos(a) * r * 1.5, np.sin(a) * r * 1.5, 0.15), (0.25 * abs(np.cos(a)) + 0.02,
                                                                   0.25 * abs(np.sin(a)) + 0.02, 0.3))
            for a in np.arange(int(rng.integers(3, 5))) * np.pi / 2]
    return [frustum((0, 0, 0), r, r, h, top=False), frustum((0, 0, h), r, 0.01, nose, bottom=False)] + fins


def _car(rng: np.random.Generator) -> list[Part]:
    length, w, h = rng.uniform(1.6, 2.2), rng.uniform(0.7, 1.0), rng.uniform(0.3, 0.5)
    wheel = rng.uniform(0.15, 0.22)
    parts = [box((0, 0, wheel + h / 2), (length, w, h)),
             box((rng.uniform(-0.2, 0.1), 0, wheel + h + 0.15), (length * rng.uniform(0.4, 0.6), w * 0.9, 0.3))]
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(torus((sx * length * 0.32, sy * w / 2, wheel), wheel * 0.7, wheel * 0.3, rot=ROT_X90))
    return parts


def _tree(rng: np.random.Generator) -> list[Part]:
    trunk_h, trunk_r = rng.uniform(0.4, 0.9), rng.uniform(0.05, 0.12)
    crown = (frustum((0, 0, trunk_h), rng.uniform(0.4, 0.7), 0.01, rng.uniform(0.8, 1.5)) if rng.random() < 0.5
             else ellipsoid((0, 0, trunk_h + 0.4), (0.5, 0.5, rng.uniform(0.4, 0.7))))
    return [frustum((0, 0, 0), trunk_r, trunk_r, trunk_h, top=False), crown]


def _bed(rng: np.random.Generator) -> list[Part]:
    length, w, h = rng.uniform(1.6, 2.2), rng.uniform(0.9, 1.6), rng.uniform(0.3, 0.5)
    head = rng.uniform(0.4, 0.8)
    return [box((0, 0, h / 2), (length, w, h)), box((-length / 2, 0, (h + head) / 2), (0.08, w, h + head))]


def _cross(rng: np.random.Generator) -> list[Part]:
    a, t = rng.uniform(0.8, 1.6), rng.uniform(0.15, 0.35)
    dims = [(a, t, t), (t, a * rng.uniform(0.5, 1.0), t)]
    if rng.random() < 0.5:
        dims.append((t, t, a * rng.uniform(0.5, 1.0)))
    return [box((0, 0, 0), d) for d in dims]


def _prism(rng: np.random.Generator) -> list[Part]:
    k, r, h = int(rng.integers(3, 7)), rng.uniform(0.5, 0.9), rng.uniform(0.4, 1.6)
    ang = np.arange(k) * 2 * np.pi / k + rng.uniform(0, np.pi)
    ring = np.stack([r * np.cos(ang), r * np.sin(ang)], 1)
    bot = [(x, y, 0.0) for x, y in ring]
    top = [(x, y, h) for x, y in ring]
    faces = [quad(bot[i], bot[(i + 1) % k], top[(i + 1) % k], top[i]) for i in range(k)]
    caps = [np.array([[bot[0], bot[i], bot[i + 1]], [top[0], top[i], top[i + 1]]]) for i in range(1, k - 1)]
    return [triangles(np.concatenate(faces + caps))]


EXTRA_BUILDERS: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "stool": _stool, "bench": _bench, "bowl": _bowl, "vase": _vase, "dumbbell": _dumbbell, "snowman": _snowman,
    "arch": _arch, "rocket": _rocket, "car": _car, "tree": _tree, "bed": _bed, "cross": _cross, "prism": _prism,
}
FAMILIES: list[str] = list(BUILDERS) + list(EXTRA_BUILDERS)
_ALL = {**BUILDERS, **EXTRA_BUILDERS}


def deform(pts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random anisotropic scale, taper, twist and bend about z (z-up frame), each drawn independently."""
    pts = pts - pts.mean(axis=0)
    z = pts[:, 2] / max(np.abs(pts[:, 2]).max(), 1e-6)  # in [-1, 1]
    pts = pts * rng.uniform(0.6, 1.5, 3)
    if rng.random() < 0.5:  # taper: xy shrink or grow along z
        pts[:, :2] *= (1 + rng.uniform(-0.4, 0.4) * z)[:, None]
    if rng.random() < 0.5:  # twist about z
        a = rng.uniform(-0.8, 0.8) * z
        c, s = np.cos(a), np.sin(a)
        pts[:, :2] = np.stack([c * pts[:, 0] - s * pts[:, 1], s * pts[:, 0] + c * pts[:, 1]], 1)
    if rng.random() < 0.5:  # bend: x offset quadratic in z
        pts[:, 0] += rng.uniform(-0.3, 0.3) * z ** 2 * np.abs(pts[:, 2]).max()
    return pts


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random rotation (QR of a Gaussian matrix with the sign fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def corpus_shape(family: str, rng: np.random.Generator, npoints: int = 1024, noise: float = 0.01) -> np.ndarray:
    """One deformed, posed shape of ``family``: (npoints, 3) float32, unit sphere, y up."""
    parts = _ALL[family](rng)
    areas = np.array([a for a, _ in parts])
    counts = rng.multinomial(npoints, areas / areas.sum())
    pts = deform(np.concatenate([fn(rng, int(c)) for (_, fn), c in zip(parts, counts) if c > 0]), rng)
    rot = (random_rotation(rng) if rng.random() < 0.5 else
           _rotation(rng.uniform(-np.pi, np.pi), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.deg2rad(8))))
    pts = pts[rng.permutation(len(pts))] @ (Z_UP_TO_Y_UP @ rot).T
    pts -= pts.mean(axis=0)
    pts *= 1.0 / np.sqrt(np.einsum("ij,ij->i", pts, pts).max())
    pts += noise * rng.standard_normal(pts.shape)
    return pts.astype(np.float32)


def corpus_batch(seed: int, index: int, batch_size: int, npoints: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Batch ``index`` of the corpus stream ``seed``: points (B, npoints, 3) float32 and family labels (B,) int64.

    Deterministic in (seed, index), so a resumed or repeated run sees the very same shapes.
    """
    if batch_size < 1 or npoints < 1:
        raise ValueError(f"batch_size and npoints must be >= 1, got {batch_size} and {npoints}")
    rng = np.random.default_rng([CORPUS_TAG, seed, index])
    labels = rng.integers(0, len(FAMILIES), batch_size)
    points = np.stack([corpus_shape(FAMILIES[k], rng, npoints) for k in labels])
    return points, labels.astype(np.int64)
