"""The scale-1 token embedding normalises rows (B*G*k, C): its batch statistics must be as accurate as
BatchNorm1d on (N, C, L) input, with the same running statistics."""
import pytest
import torch
from torch import nn

from i2pmae.models.layers.token_embed import TokenEmbed, batch_norm_rows

N, C, L = 8192, 64, 16


def _bn(dtype, momentum=0.1):
    bn = nn.BatchNorm1d(C, momentum=momentum).to(dtype)
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 1.5, C))
        bn.bias.copy_(torch.linspace(-1, 1, C))
    return bn


def _data():
    """Channels with large means and small spreads: where a single-pass variance loses precision."""
    g = torch.Generator().manual_seed(0)
    x = (3.0 + 4 * torch.rand(C, dtype=torch.float64, generator=g)) + 0.01 * torch.randn(N, C, dtype=torch.float64,
                                                                                           generator=g)
    return x, torch.randn(N, C, dtype=torch.float64, generator=g)


def _run(fn, x, gy):
    x = x.clone().requires_grad_(True)
    y = fn(x)
    y.backward(gy)
    return y.detach().double(), x.grad.double()


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


def test_rows_are_as_accurate_as_batchnorm_on_ncl_layout():
    x64, gy64 = _data()
    ref_y, ref_g = _run(_bn(torch.float64), x64, gy64)
    x, gy = x64.float(), gy64.float()
    rows_y, rows_g = _run(lambda t: batch_norm_rows(_bn(torch.float32), t), x, gy)

    def ncl(t):  # the same data as BatchNorm1d over (N/L, C, L)
        return _bn(torch.float32)(t.view(N // L, L, C).transpose(1, 2)).transpose(1, 2).reshape(N, C)

    ncl_y, ncl_g = _run(ncl, x, gy)
    assert _rel(rows_y, ref_y) <= 2 * _rel(ncl_y, ref_y)
    assert _rel(rows_g, ref_g) <= 2 * _rel(ncl_g, ref_g)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_running_statistics_and_eval_mode_equal_batchnorm1d(momentum):
    x64, _ = _data()
    ours, theirs = _bn(torch.float64, momentum), _bn(torch.float64, momentum)
    for chunk in x64.split(N // 3):
        torch.testing.assert_close(batch_norm_rows(ours, chunk), theirs(chunk), rtol=1e-9, atol=1e-9)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(ours, name), getattr(theirs, name), rtol=1e-12, atol=1e-12)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(batch_norm_rows(ours, x64[:100]), theirs(x64[:100]))


def test_token_embed_on_rows_equals_the_authors_conv_layout():
    torch.manual_seed(0)
    embed = TokenEmbed(3, 32, first_scale=True, embed_widths=(16, 32, 64)).double()
    groups = torch.randn(2, 8, 16, 3, dtype=torch.float64) + 5.0

    def reference(g):  # the authors' layout: Conv1d + BatchNorm1d on (B*G, C, k)
        B, G, k, _ = g.shape
        x = embed.first_conv(g.reshape(B * G, k, 3).transpose(1, 2))
        glob = x.max(dim=2, keepdim=True).values
        x = embed.second_conv(torch.cat([glob.expand(-1, -1, k), x], dim=1))
        return x.max(dim=2).values.reshape(B, G, -1)

    torch.testing.assert_close(embed(groups), reference(groups), rtol=1e-10, atol=1e-10)
