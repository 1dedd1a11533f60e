import math

import pytest
import torch

from i2pmae.projection import IMAGENET_MEAN, IMAGENET_STD, project_views

PERMS = {0: (0, 1, 2), 1: (2, 0, 1), 2: (1, 2, 0)}


def normalised(value: float, channel: int) -> float:
    return (1 / (1 + math.exp(-value)) - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]


def project_reference(cloud: torch.Tensor, view: int, S: int = 224) -> dict[tuple[int, int], float]:
    """docs/method.md §2 with python loops: {(row, col): summed depth} of one cloud in one view."""
    pts = [[p[i] for i in PERMS[view]] for p in cloud.tolist()]
    mins = [min(p[a] for p in pts) for a in range(2)]
    g = max(max(p[a] for p in pts) - mins[a] for a in range(2)) / (S - 3)
    splats = []
    for p in pts:
        r, c = (math.floor((p[a] - mins[a]) / g) + 1 for a in range(2))
        splats += [(r + dr, c + dc, p[2]) for dr in range(-2, 3) for dc in range(-2, 3)]
    shift = [S // 2 - math.floor((max(s[a] for s in splats) + min(s[a] for s in splats)) / 2) - 1 for a in range(2)]
    canvas: dict[tuple[int, int], float] = {}
    for r, c, d in splats:
        r, c = r + shift[0], c + shift[1]
        r, c = (x + 1 if x < 0 else x - 1 if x > S - 1 else x for x in (r, c))
        canvas[(r, c)] = canvas.get((r, c), 0.0) + d
    return canvas


def test_hand_made_cloud_lands_on_expected_pixels():
    # View 0 plane = (x, y); x spans 221 so one pixel is 1 unit.  Worked by hand from docs/method.md:
    # pixels +1: p0 (1, 1), p1 (222, 1), p2 (101, 51), p3 (102, 52); footprint rows [-1, 224]
    # -> shift 112 - 111 - 1 = 0; cols [-1, 54] -> shift 112 - floor(53 / 2) - 1 = 85.
    cloud = torch.tensor([[[0.0, 0.0, 0.5], [221.0, 0.0, -1.0], [100.0, 50.0, 2.0], [101.0, 51.0, 3.0]]],
                         dtype=torch.float64)
    images, mapping = project_views(cloud, views=(0,))
    assert images.shape == (1, 1, 3, 224, 224)
    assert mapping.pixels(cloud).tolist() == [[[[1, 86], [222, 86], [101, 136], [102, 137]]]]
    expected = torch.zeros(224, 224, dtype=torch.float64)
    expected[0, 84:89] += 2 * 0.5  # rows -1 and 0 of p0: row -1 moved back inside
    expected[1:4, 84:89] += 0.5
    expected[220:223, 84:89] += -1.0
    expected[223, 84:89] += 2 * -1.0  # rows 223 and 224 of p1
    expected[99:104, 134:139] += 2.0
    expected[100:105, 135:140] += 3.0  # overlaps p2 on rows 100-103, cols 135-138: summed (5.0)
    assert expected[101, 136] == 5.0
    for ch in range(3):
        want = (torch.sigmoid(expected) - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]
        torch.testing.assert_close(images[0, 0, ch], want)
    assert images[0, 0, 1, 50, 50].item() == pytest.approx(normalised(0.0, 1))  # empty pixel: sigmoid(0)


def test_views_permute_coordinates():
    # The same 3 points seen by every view: the depth value is the third permuted coordinate.
    cloud = torch.tensor([[[0.0, 1.0, 2.0], [4.0, 0.5, -3.0], [2.0, 3.0, 1.0]]], dtype=torch.float64)
    images, mapping = project_views(cloud)
    pix = mapping.pixels(cloud)
    for v in range(3):
        ref = project_reference(cloud[0], v)
        for i, p in enumerate(cloud[0].tolist()):
            r, c = pix[0, v, i].tolist()
            assert images[0, v, 0, r, c].item() == pytest.approx(normalised(ref[(r, c)], 0))
            depth = p[PERMS[v][2]]
            assert ref[(r, c)] == pytest.approx(depth)  # isolated points: the splat centre holds the depth


@pytest.mark.parametrize("views", [(0, 1, 2), (2,), (1, 0)])
def test_projection_matches_loop_reference(views):
    g = torch.Generator().manual_seed(41)
    cloud = torch.randn(2, 60, 3, generator=g, dtype=torch.float64) * torch.tensor([1.0, 0.3, 2.0], dtype=torch.float64)
    cloud[1, 30:] = cloud[1, :30]  # duplicates: summed splats
    images, _ = project_views(cloud, views)
    for b in range(2):
        for vi, v in enumerate(views):
            want = torch.zeros(224, 224, dtype=torch.float64)
            for (r, c), d in project_reference(cloud[b], v).items():
                want[r, c] = d
            for ch in range(3):
                torch.testing.assert_close(images[b, vi, ch], (torch.sigmoid(want) - IMAGENET_MEAN[ch]) / IMAGENET_STD[ch])


def test_projection_small_image_and_flat_cloud():
    cloud = torch.zeros(1, 5, 3)
    cloud[0, :, 2] = 1.0  # all points on one pixel of view 0: range 0
    images, mapping = project_views(cloud, views=(0,), image_size=32)
    assert torch.isfinite(images).all()
    assert mapping.pixels(cloud)[0, 0].tolist() == [[15, 15]] * 5
    assert images[0, 0, 0, 15, 15].item() == pytest.approx(normalised(5.0, 0), rel=1e-5)


@pytest.mark.parametrize("bad, message", [
    (lambda: project_views(torch.rand(2, 10, 3), views=(0, 3)), "distinct view indices"),
    (lambda: project_views(torch.rand(2, 10, 3), views=(1, 1)), "distinct view indices"),
    (lambda: project_views(torch.rand(2, 10, 3), views=()), "distinct view indices"),
    (lambda: project_views(torch.rand(2, 10, 3), image_size=4), "image_size"),
    (lambda: project_views(torch.rand(10, 3)), r"\(B, N, 3\)"),
    (lambda: project_views(torch.rand(1, 0, 3)), "at least 1 point"),
    (lambda: project_views(torch.tensor([[[0.0, float("nan"), 1.0]]])), "NaN/Inf"),
])
def test_projection_bad_inputs(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
