import itertools

import pytest
import torch
import torch.nn.functional as F

import i2pmae.projection.backproject as backproject
from i2pmae.projection import back_project, project_views

SUBSETS = [s for n in (1, 2, 3) for s in itertools.permutations((0, 1, 2), n) if list(s) == sorted(s)]


def upsample_then_gather(maps, points, mapping):
    """The authors' way: bicubic upsampling of every map to S x S, then a gather per point."""
    B, V, C, h, w = maps.shape
    S = mapping.image_size
    up = F.interpolate(maps.reshape(B * V, C, h, w), size=(S, S), mode="bicubic", align_corners=False)
    up = up.reshape(B, V, C, S * S)
    pix = mapping.pixels(points)
    flat = (pix[..., 0] * S + pix[..., 1])  # (B, V, M)
    return up.gather(3, flat.unsqueeze(2).expand(-1, -1, C, -1)).permute(0, 1, 3, 2)


@pytest.mark.parametrize("views", SUBSETS)
def test_back_project_equals_upsample_then_gather(views):
    g = torch.Generator().manual_seed(51)
    cloud = torch.randn(2, 200, 3, generator=g)
    _, mapping = project_views(cloud, views)
    # Points of the cloud (their own splat centres) plus points outside its extent (clamped pixels).
    points = torch.cat([cloud[:, ::3], torch.randn(2, 20, 3, generator=g) * 3], dim=1)
    maps = torch.randn(2, len(views), 6, 14, 14, generator=g)
    out = back_project(maps, points, mapping)
    assert out.shape == (2, len(views), points.shape[1], 6)
    torch.testing.assert_close(out, upsample_then_gather(maps, points, mapping), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("hw", [(7, 10), (1, 3), (224, 224), (16, 16)])
def test_back_project_other_map_sizes(hw):
    g = torch.Generator().manual_seed(52)
    cloud = torch.rand(1, 100, 3, generator=g)
    _, mapping = project_views(cloud)
    maps = torch.randn(1, 3, 2, *hw, generator=g)
    torch.testing.assert_close(back_project(maps, cloud, mapping), upsample_then_gather(maps, cloud, mapping),
                               atol=1e-5, rtol=1e-5)


def test_back_project_chunks_and_float64(monkeypatch):
    g = torch.Generator().manual_seed(53)
    cloud = torch.rand(2, 300, 3, generator=g, dtype=torch.float64)
    _, mapping = project_views(cloud, (0, 2))
    maps = torch.randn(2, 2, 4, 14, 14, generator=g, dtype=torch.float64)
    whole = back_project(maps, cloud, mapping)
    monkeypatch.setattr(backproject, "BACKPROJECT_CHUNK_ELEMENTS", 2 * 2 * 196 * 7)  # 7 points per chunk
    chunked = back_project(maps, cloud, mapping)
    torch.testing.assert_close(chunked, whole)
    torch.testing.assert_close(whole, upsample_then_gather(maps, cloud, mapping), atol=1e-10, rtol=1e-10)


@pytest.mark.parametrize("bad, message", [
    (lambda m: back_project(torch.rand(2, 2, 4, 14, 14), torch.rand(2, 5, 3), m), "maps has 2 views"),
    (lambda m: back_project(torch.rand(2, 3, 14, 14), torch.rand(2, 5, 3), m), r"\(B, V, C, h, w\)"),
    (lambda m: back_project(torch.rand(1, 3, 4, 14, 14), torch.rand(1, 5, 3), m), "batch sizes differ"),
    (lambda m: back_project(torch.rand(2, 3, 4, 14, 14), torch.rand(2, 5, 2), m), r"\(B, N, 3\)"),
    (lambda m: back_project(torch.rand(2, 3, 4, 14, 14), torch.full((2, 5, 3), float("inf")), m), "NaN/Inf"),
    (lambda m: m.pixels(torch.rand(3, 5, 3)), "batch size 3"),
])
def test_back_project_bad_inputs(bad, message):
    _, mapping = project_views(torch.rand(2, 10, 3))
    with pytest.raises(ValueError, match=message):
        bad(mapping)
