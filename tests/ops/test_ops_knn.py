import pytest
import torch

from i2pmae.ops import group, index_points, knn


def knn_reference(query, ref, k):
    """Full distance matrix (float64, no matrix-product shortcut) and a stable sort."""
    d = torch.cdist(query.double(), ref.double(), compute_mode="donot_use_mm_for_euclid_dist") ** 2
    order = torch.sort(d, dim=-1, stable=True).indices[..., :k]
    return d.gather(-1, order), order


@pytest.mark.parametrize("kind", ["random", "duplicates", "grid"])
@pytest.mark.parametrize("k", [1, 5, 16])
def test_knn_matches_brute_force(make_cloud, kind, k):
    ref = make_cloud(3, 64, seed=11, kind=kind)
    query = torch.cat([ref[:, :20], make_cloud(3, 10, seed=12, kind=kind)], dim=1)
    dist2, idx = knn(query, ref, k)
    ref_d, ref_i = knn_reference(query, ref, k)
    assert idx.shape == dist2.shape == (3, 30, k) and idx.dtype == torch.long
    assert torch.equal(idx, ref_i)
    torch.testing.assert_close(dist2, ref_d)


def test_knn_ties_at_the_boundary_take_lower_indices():
    # Ten copies of one point: every query must get the lowest k indices, in index order.
    ref = torch.zeros(1, 10, 3)
    ref[0, 0] = 5.0  # index 0 is far; the copies are 1..9
    dist2, idx = knn(torch.zeros(1, 2, 3), ref, 4)
    assert idx.tolist() == [[[1, 2, 3, 4]] * 2]
    assert torch.all(dist2 == 0)


@pytest.mark.parametrize("kind", ["duplicates", "grid"])
def test_knn_compiled_equals_eager_with_ties(make_cloud, kind):
    """Under torch.compile (train.compile) every row takes the tie-safe selection, without a data-dependent
    branch (fullgraph): the same indices as the eager path, ties included."""
    torch._dynamo.reset()
    ref = make_cloud(2, 48, seed=21, kind=kind, dtype=torch.float32)
    query = torch.cat([ref[:, :16], make_cloud(2, 8, seed=22, kind=kind, dtype=torch.float32)], dim=1)
    compiled = torch.compile(lambda q, r: knn(q, r, 5), backend="aot_eager", fullgraph=True)
    dist2, idx = compiled(query, ref)
    eager_d, eager_i = knn(query, ref, 5)
    assert torch.equal(idx, eager_i) and torch.equal(idx, knn_reference(query, ref, 5)[1])
    torch.testing.assert_close(dist2, eager_d)


def test_knn_large_cloud_small_chunks(make_cloud):
    ref = make_cloud(1, 8192, seed=13, dtype=torch.float32, kind="duplicates")
    query = torch.cat([ref[:, ::64], make_cloud(1, 64, seed=14, dtype=torch.float32)], dim=1)
    dist2, idx = knn(query, ref, 16, chunk_size=37)
    # Same float32 arithmetic as the op, then a stable sort: the selection must agree exactly.
    d = ((query[:, :, None, :] - ref[:, None, :, :]) ** 2).sum(-1)
    ref_i = torch.sort(d, dim=-1, stable=True).indices[..., :16]
    assert torch.equal(idx, ref_i)
    torch.testing.assert_close(dist2.double(), knn_reference(query, ref, 16)[0], atol=1e-6, rtol=1e-5)


def test_knn_chunking_does_not_change_result(make_cloud):
    ref = make_cloud(2, 300, seed=15, kind="duplicates")
    query = make_cloud(2, 100, seed=16)
    full = knn(query, ref, 8)
    for chunk in (1, 7, 100, 1000):
        part = knn(query, ref, 8, chunk_size=chunk)
        assert torch.equal(full[1], part[1]) and torch.equal(full[0], part[0])


def test_knn_distances_are_differentiable(make_cloud):
    ref = make_cloud(2, 12, seed=17).requires_grad_()
    query = make_cloud(2, 5, seed=18).requires_grad_()
    assert torch.autograd.gradcheck(lambda q, r: knn(q, r, 3)[0], (query, ref))


def test_index_points_matches_loop(make_cloud):
    points = torch.randn(2, 7, 4, 5)
    idx = torch.randint(0, 7, (2, 3, 6))
    out = index_points(points, idx)
    assert out.shape == (2, 3, 6, 4, 5)
    for b in range(2):
        for i in range(3):
            for j in range(6):
                assert torch.equal(out[b, i, j], points[b, idx[b, i, j]])


def test_group_relative_and_absolute(make_cloud):
    points = make_cloud(2, 50, seed=19, kind="random")
    centres = points[:, :6]
    g = group(points, centres, 8)
    _, ref_i = knn_reference(centres, points, 8)
    assert torch.equal(g.idx, ref_i)
    for b in range(2):
        torch.testing.assert_close(g.absolute[b], points[b][g.idx[b]])
    torch.testing.assert_close(g.relative, g.absolute - centres[:, :, None])
    assert torch.all(g.relative[:, :, 0] == 0)  # the centre is its own nearest neighbour
    assert torch.equal(g.idx[:, :, 0], torch.arange(6).expand(2, 6))


@pytest.mark.parametrize("bad, message", [
    (lambda: knn(torch.rand(2, 4, 3), torch.rand(2, 5, 3), 6), r"between 1 and 5"),
    (lambda: knn(torch.rand(2, 4, 3), torch.rand(3, 5, 3), 2), "batch sizes differ"),
    (lambda: knn(torch.rand(2, 4, 2), torch.rand(2, 5, 3), 2), r"\(B, N, 3\)"),
    (lambda: knn(torch.rand(2, 0, 3), torch.rand(2, 5, 3), 2), "at least 1 point"),
    (lambda: knn(torch.rand(2, 4, 3), torch.tensor([[[float("inf"), 0, 0]]] * 2), 1), "NaN/Inf"),
    (lambda: knn(torch.rand(2, 4, 3), torch.rand(2, 5, 3), 2, chunk_size=0), "chunk_size"),
    (lambda: knn(torch.randint(0, 3, (2, 4, 3)), torch.rand(2, 5, 3), 2), "floating-point"),
    (lambda: index_points(torch.rand(2, 5, 3), torch.tensor([[0, 5]] * 2)), r"outside \[0, 4\]"),
    (lambda: index_points(torch.rand(2, 5, 3), torch.zeros(3, 2, dtype=torch.long)), "batch sizes differ"),
    (lambda: group(torch.rand(1, 5, 3), torch.rand(1, 2, 3), 9), r"between 1 and 5"),
])
def test_knn_bad_inputs(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
