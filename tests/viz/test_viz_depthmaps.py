"""Depth-map display helpers: undoing the ImageNet normalisation, attention up-sampling, blending."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from i2pmae.projection import IMAGENET_MEAN, IMAGENET_STD, project_views
from i2pmae.viz.depthmaps import denormalise, overlay, upsample_attention


def test_viz_denormalise_recovers_the_depth_image():
    pts = torch.rand(1, 20, 3, generator=torch.Generator().manual_seed(0))
    images, _ = project_views(pts, (0, 1, 2), 64)
    depth = denormalise(images[0])  # (V, S, S)
    for c in range(3):  # every channel is the same depth image once its own mean / std are undone
        torch.testing.assert_close(images[0, :, c] * IMAGENET_STD[c] + IMAGENET_MEAN[c], depth, atol=1e-5, rtol=0)
    assert depth.min() >= 0 and depth.max() <= 1
    # 20 points splat at most 20 * 25 of the 64 * 64 pixels; the others are empty: sigmoid(0) = 0.5.
    empty = torch.isclose(depth, torch.tensor(0.5), atol=1e-5).flatten(1).float().mean(1)
    assert (empty >= 1 - 20 * 25 / 64**2).all()


def test_viz_attention_upsampling_and_blend():
    att = torch.rand(3, 7, 7, generator=torch.Generator().manual_seed(1)) * 5 + 2
    up = upsample_attention(att, 224)
    ref = F.interpolate(att[:, None], size=(224, 224), mode="bilinear", align_corners=False)[:, 0]
    ref = (ref - ref.amin((1, 2), keepdim=True)) / (ref.amax((1, 2), keepdim=True) - ref.amin((1, 2), keepdim=True))
    torch.testing.assert_close(up, ref)
    grey = np.full((4, 4), 0.3)
    np.testing.assert_allclose(overlay(grey, np.zeros((4, 4))), np.full((4, 4, 3), 0.3))  # no attention: depth only
    hot = overlay(grey, np.ones((4, 4)))
    assert np.abs(hot - 0.3).max() > 0.2  # full attention: the heat colour dominates
