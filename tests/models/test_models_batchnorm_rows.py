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


def _embed_run(embed, groups, path, amp=False):
    """Output, input gradient, parameter gradients and buffers after one training-mode forward + backward."""
    import copy

    m = copy.deepcopy(embed)
    x = groups.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
        y = m(x) if path == "fused" else m.forward_concat(x)
    (y.double() * torch.linspace(-1, 1, y.numel(), dtype=torch.float64).reshape(y.shape)).sum().backward()
    return y.detach(), x.grad, {n: p.grad for n, p in m.named_parameters()}, dict(m.named_buffers())


@pytest.mark.parametrize("first_scale", [True, False])
def test_fused_token_embed_equals_the_concatenation(first_scale):
    """Issue 19: forward (split first matmul after the concatenation, fused BN + ReLU) computes what
    forward_concat (the direct transcription) does: output, every gradient and the running statistics,
    to float64 rounding; in float32 to float32 rounding."""
    torch.manual_seed(0)
    c_in = 3 if first_scale else 24
    embed = TokenEmbed(c_in, 32, first_scale=first_scale, embed_widths=(16, 32, 64)).double()
    groups = torch.randn(2, 8, 16, c_in, dtype=torch.float64) + 5.0
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 1e-5)):  # float32: measured <= 2.1e-6
        a = _embed_run(embed.to(dtype), groups.to(dtype), "fused")
        b = _embed_run(embed.to(dtype), groups.to(dtype), "concat")
        torch.testing.assert_close(a[0], b[0], rtol=tol, atol=tol)
        torch.testing.assert_close(a[1], b[1], rtol=tol, atol=tol * float(b[1].abs().max()))
        for name, g in b[2].items():
            # a bias that feeds a BatchNorm has a zero gradient in exact arithmetic: only rounding is left
            scale = max(float(q.abs().max()) for q in b[2].values())
            torch.testing.assert_close(a[2][name], g, rtol=tol, atol=tol * scale, msg=name)
        for name, t in b[3].items():
            torch.testing.assert_close(a[3][name], t, rtol=tol, atol=tol, msg=name)


def test_fused_token_embed_under_bf16_autocast_is_as_close_to_float32_as_before():
    """Under bf16 autocast both paths round differently (the split matmul rounds two products): the fused one
    must be no further from the float32 result than the concatenation is."""
    torch.manual_seed(0)
    embed = TokenEmbed(3, 32, first_scale=True, embed_widths=(16, 32, 64))
    groups = torch.randn(4, 16, 16, 3) * 0.05
    ref = _embed_run(embed, groups, "concat")
    errors = {}
    for path in ("fused", "concat"):
        y, gx, _, bufs = _embed_run(embed, groups, path, amp=True)
        assert y.dtype == torch.bfloat16
        errors[path] = [_rel(y.double(), ref[0].double()),
                        _rel(bufs["second_conv.1.running_mean"].double(), ref[3]["second_conv.1.running_mean"].double())]
    for fused, concat in zip(errors["fused"], errors["concat"]):
        assert fused <= 1.5 * concat + 1e-6, errors


def test_batch_norm_relu_rows_gives_the_next_matmul_the_values_it_had():
    """Under autocast the fused BN + ReLU returns bf16: the values the separate ReLU + autocast's cast gave."""
    from i2pmae.models.layers.token_embed import batch_norm_relu_rows

    x, gy = _data()
    x, gy = x.float(), gy.float()
    bn_a, bn_b = _bn(torch.float32), _bn(torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        ya = batch_norm_relu_rows(bn_a, xa)
        yb = torch.relu(batch_norm_rows(bn_b, xb))
    assert ya.dtype == torch.bfloat16 and yb.dtype == torch.float32
    assert torch.equal(ya, yb.to(torch.bfloat16))
    ya.backward(gy.to(torch.bfloat16))
    yb.backward(gy.to(torch.bfloat16).float())
    torch.testing.assert_close(xa.grad, xb.grad, rtol=1e-6, atol=1e-6)
    assert torch.equal(bn_a.running_mean, bn_b.running_mean) and torch.equal(bn_a.running_var, bn_b.running_var)
    bn_a.eval(), bn_b.eval()
    assert torch.equal(batch_norm_relu_rows(bn_a, x), torch.relu(batch_norm_rows(bn_b, x)))


def test_token_embed_with_sync_batchnorm_uses_the_concatenation():
    embed = TokenEmbed(3, 8, first_scale=True, embed_widths=(4, 8, 16))
    embed = nn.SyncBatchNorm.convert_sync_batchnorm(embed)
    from i2pmae.models.layers import token_embed as te

    assert not te._plain(embed.first_conv) and te._plain(TokenEmbed(3, 8, True, (4, 8, 16)).first_conv)
