import pytest
import torch

from i2pmae.ops import three_nn_interpolate


def interpolate_reference(dst, src, feats):
    out = torch.zeros(dst.shape[0], dst.shape[1], feats.shape[-1], dtype=feats.dtype)
    for b in range(dst.shape[0]):
        for i in range(dst.shape[1]):
            d = ((src[b] - dst[b, i]) ** 2).sum(-1)
            order = sorted(range(src.shape[1]), key=lambda j: (d[j].item(), j))[:3]
            w = torch.stack([1.0 / (d[j] + 1e-8) for j in order])
            w = w / w.sum()
            out[b, i] = (w[:, None] * feats[b, order]).sum(0)
    return out


@pytest.mark.parametrize("n_src", [1, 2, 3, 9])
def test_interpolate_matches_reference(make_cloud, n_src):
    dst = make_cloud(2, 12, seed=31)
    src = torch.cat([dst[:, :1], make_cloud(2, n_src - 1, seed=32)], dim=1) if n_src > 1 else dst[:, :1]
    feats = torch.randn(2, n_src, 5, dtype=torch.float64)
    out = three_nn_interpolate(dst, src, feats)
    torch.testing.assert_close(out, interpolate_reference(dst, src, feats))


def test_interpolate_at_a_source_returns_its_feature(make_cloud):
    src = make_cloud(1, 10, seed=33, dtype=torch.float32)
    feats = torch.randn(1, 10, 4)
    torch.testing.assert_close(three_nn_interpolate(src, src, feats), feats, atol=1e-5, rtol=1e-5)


def test_interpolate_gradients_reach_features(make_cloud):
    dst, src = make_cloud(1, 7, seed=34), make_cloud(1, 5, seed=35)
    feats = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda f: three_nn_interpolate(dst, src, f), (feats,))


@pytest.mark.parametrize("bad, message", [
    (lambda: three_nn_interpolate(torch.rand(1, 4, 3), torch.rand(1, 5, 3), torch.rand(1, 4, 2)), r"\(B, S, C\)"),
    (lambda: three_nn_interpolate(torch.rand(1, 4, 3), torch.rand(1, 0, 3), torch.rand(1, 0, 2)), "at least 1 point"),
    (lambda: three_nn_interpolate(torch.rand(2, 4, 3), torch.rand(1, 5, 3), torch.rand(1, 5, 2)), "batch sizes differ"),
])
def test_interpolate_bad_inputs(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()
