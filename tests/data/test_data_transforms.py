"""Batch augmentations (docs/data.md §2): shapes kept, draws within their ranges, seeded, pure."""

from __future__ import annotations

import math

import pytest
import torch

from i2pmae.data.transforms import (Compose, Jitter, RotateY, ScaleAndTranslate, SegScaleShift, build_transforms,
                                    rotation_y)


def _probe(b: int = 64) -> torch.Tensor:
    """Clouds whose first point is the origin and the next three the unit axes: outputs reveal s and t."""
    base = torch.cat([torch.zeros(1, 3), torch.eye(3), torch.randn(12, 3)])
    return base.expand(b, -1, -1).clone()


def test_scale_and_translate_ranges_anisotropic():
    pts = _probe()
    before = pts.clone()
    out = ScaleAndTranslate()(pts, generator=torch.Generator().manual_seed(0))
    assert out.shape == pts.shape and torch.equal(pts, before)  # pure
    t = out[:, 0]  # image of the origin
    s = torch.stack([out[:, 1 + k, k] - t[:, k] for k in range(3)], 1)  # scale per axis
    assert (t.abs() <= 0.2 + 1e-6).all()
    assert (s >= 2 / 3 - 1e-6).all() and (s <= 1.5 + 1e-6).all()
    assert (s.std(0) > 0.05).all() and (s[:, 0] - s[:, 1]).abs().max() > 0.05  # per cloud, per axis
    torch.testing.assert_close(out, pts * s[:, None, :] + t[:, None, :])  # p * s + t on every point

    scan = build_transforms("scan_scale")(pts, generator=torch.Generator().manual_seed(1))
    assert (scan[:, 0].abs() < 1e-7).all()  # no translation
    ratio = scan[:, 1:4].diagonal(dim1=1, dim2=2)
    assert (ratio >= 0.9 - 1e-6).all() and (ratio <= 1.1 + 1e-6).all()


def test_rotate_y_one_matrix_per_batch():
    pts = torch.randn(8, 100, 3)
    out = RotateY()(pts, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out[..., 1], pts[..., 1])  # y unchanged
    torch.testing.assert_close(out.norm(dim=-1), pts.norm(dim=-1))  # a rotation
    # recover the matrix from the whole batch by least squares: one R explains every cloud
    x, y = pts.reshape(-1, 3), out.reshape(-1, 3)
    r_t = torch.linalg.lstsq(x, y).solution
    torch.testing.assert_close(x @ r_t, y, atol=1e-4, rtol=0)
    theta = math.atan2(r_t[2, 0].item(), r_t[0, 0].item())  # R = rotation_y(theta): R^T[2,0] = s
    torch.testing.assert_close(r_t.T, rotation_y(torch.tensor(theta)), atol=1e-5, rtol=0)
    thetas = [RotateY()(pts[:1, :3], generator=torch.Generator().manual_seed(k)) for k in range(50)]
    angles = torch.tensor([math.atan2(-o[0, 0, 2].item(), o[0, 0, 0].item()) - math.atan2(-pts[0, 0, 2].item(),
                           pts[0, 0, 0].item()) for o in thetas])
    assert torch.remainder(angles, 2 * math.pi).std() > 1.0  # spread over the circle


def test_seg_scale_shift_isotropic_per_shape():
    pts = _probe(128)
    out = SegScaleShift()(pts, generator=torch.Generator().manual_seed(0))
    t = out[:, 0]
    s = torch.stack([out[:, 1 + k, k] - t[:, k] for k in range(3)], 1)
    torch.testing.assert_close(s[:, 0], s[:, 1])
    torch.testing.assert_close(s[:, 0], s[:, 2])
    assert (s >= 0.8 - 1e-6).all() and (s <= 1.25 + 1e-6).all() and s[:, 0].std() > 0.05
    assert (t.abs() <= 0.1 + 1e-6).all() and (t[:, 0] - t[:, 1]).abs().max() > 0.01


def test_seeded_extra_channels_and_compose():
    pts = torch.randn(4, 50, 6)
    aug = build_transforms(["scale_translate", {"name": "rotate_y"}, {"jitter": {"sigma": 0.001}}])
    assert isinstance(aug, Compose) and len(aug) == 3
    a = aug(pts, generator=torch.Generator().manual_seed(7))
    b = aug(pts, generator=torch.Generator().manual_seed(7))
    c = aug(pts, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[..., 3:], pts[..., 3:]) and a.shape == pts.shape
    assert len(build_transforms("scanobjectnn")) == 2 and len(build_transforms(None)) == 0
    assert isinstance(build_transforms("segmentation").transforms[0], SegScaleShift)
    j = Jitter(0.01, 0.02)(pts)
    assert ((j[..., :3] - pts[..., :3]).abs() <= 0.02 + 1e-6).all()
    with pytest.raises(ValueError, match="unknown augmentation"):
        build_transforms(["spin"])
    with pytest.raises(ValueError, match="bad options"):
        build_transforms({"name": "rotate_y", "angle": 1})
    with pytest.raises(ValueError, match="B, N"):
        ScaleAndTranslate()(torch.randn(10, 3))


def test_dtype_and_device_follow_the_points():
    pts = torch.randn(2, 10, 3, dtype=torch.float64)
    for t in (ScaleAndTranslate(), RotateY(), SegScaleShift()):
        out = t(pts)
        assert out.dtype == torch.float64 and out.device == pts.device
