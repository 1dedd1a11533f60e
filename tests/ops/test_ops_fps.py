import pytest
import torch

from i2pmae.ops import farthest_point_sample


def fps_reference(cloud: torch.Tensor, n: int, start: int = 0) -> list[int]:
    """Plain python FPS on one cloud: squared distances, strict '>' so ties keep the lower index."""
    pts = cloud.tolist()
    dist = [1e10] * len(pts)
    order, far = [], start
    for _ in range(n):
        order.append(far)
        c = pts[far]
        best, best_i = -1.0, 0
        for j, p in enumerate(pts):
            d = (p[0] - c[0]) * (p[0] - c[0]) + (p[1] - c[1]) * (p[1] - c[1]) + (p[2] - c[2]) * (p[2] - c[2])
            dist[j] = min(dist[j], d)
            if dist[j] > best:
                best, best_i = dist[j], j
        far = best_i
    return order


@pytest.mark.parametrize("kind", ["random", "duplicates", "grid"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_fps_matches_python_loop(make_cloud, kind, dtype):
    xyz = make_cloud(3, 150, seed=1, dtype=dtype, kind=kind)
    idx = farthest_point_sample(xyz, 40)
    assert idx.shape == (3, 40) and idx.dtype == torch.long
    for b in range(3):
        assert idx[b].tolist() == fps_reference(xyz[b], 40)


def test_fps_start_index_and_full_permutation(make_cloud):
    xyz = make_cloud(2, 60, seed=2)
    idx = farthest_point_sample(xyz, 60, start_idx=7)
    for b in range(2):
        assert idx[b].tolist() == fps_reference(xyz[b], 60, start=7)
        assert sorted(idx[b].tolist()) == list(range(60))  # distinct points -> a permutation


def test_fps_random_start_uses_generator(make_cloud):
    xyz = make_cloud(4, 80, seed=3)
    a = farthest_point_sample(xyz, 10, start_idx=None, generator=torch.Generator().manual_seed(5))
    b = farthest_point_sample(xyz, 10, start_idx=None, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    for row in range(4):
        assert a[row].tolist() == fps_reference(xyz[row], 10, start=int(a[row, 0]))


def test_fps_picks_points_near_origin():
    # The authors' CUDA op never picks points within 1e-3 of the origin; ours must.
    xyz = torch.tensor([[[5.0, 0, 0], [1.0, 0, 0], [0.0, 0, 0], [4.0, 0, 0]]])
    assert farthest_point_sample(xyz, 3).tolist() == [[0, 2, 1]]


@pytest.mark.parametrize("bad, message", [
    (lambda: farthest_point_sample(torch.rand(2, 10, 3), 11), "between 1 and 10"),
    (lambda: farthest_point_sample(torch.rand(2, 10, 3), 0), "between 1 and 10"),
    (lambda: farthest_point_sample(torch.rand(2, 10), 3), r"\(B, N, 3\)"),
    (lambda: farthest_point_sample(torch.rand(2, 0, 3), 1), "at least 1 point"),
    (lambda: farthest_point_sample(torch.full((1, 4, 3), float("nan")), 2), "NaN/Inf"),
    (lambda: farthest_point_sample(torch.rand(1, 4, 3), 2, start_idx=4), "start_idx"),
])
def test_fps_bad_inputs(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
