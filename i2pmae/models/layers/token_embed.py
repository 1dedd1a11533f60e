"""Token embedding (scale 1) and token merging (scales > 1): a two-step mini-PointNet.

Module names (``first_conv``, ``second_conv``) and layer indices follow the authors' ``Token_Embed``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class TokenEmbed(nn.Module):
    """Maps each group of k inputs (B, G, k, C_in) to one token (B, G, C_out).

    Per-point conv, BN, ReLU, conv; max over the k points; the max is concatenated to every point;
    conv, BN, ReLU, conv; max over k.  The first scale (xyz inputs) uses the wide variant, whose widths
    ``embed_widths`` are the authors' (128, 256, 512); it costs most of a CPU step, so small configs
    (the quickstart) may narrow it.

    ``forward`` (issue 19) computes the same function more cheaply than ``forward_concat`` (the direct
    transcription, kept as the reference): the first layer after the concatenation, ``W [glob; x] + b``, is
    ``W_x x`` on every point plus ``W_g glob + b`` once per group, broadcast over its k points (half the FLOPs of
    the step's largest matmul, forward and backward, and no (rows, 2 * mid) concatenation); each
    BatchNorm + ReLU is one autograd function (``batch_norm_relu_rows``) that, under autocast, hands the next
    matmul its input already in the autocast dtype (the values the separate cast gave). Both paths compute
    the same, up to float rounding (tests/models/test_models_batchnorm_rows.py). ``forward_concat`` also runs
    when a layer is not the plain one (``SyncBatchNorm`` under ``train.sync_bn``).
    """

    fused = True  # False: always the reference path ``forward_concat`` (benchmarks/pretrain_step.py --old-embed)

    def __init__(self, in_channels: int, out_channels: int, first_scale: bool,
                 embed_widths: tuple[int, int, int] = (128, 256, 512)) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        if len(embed_widths) != 3 or min(embed_widths) < 1:
            raise ValueError(f"embed_widths must be three positive widths (hidden, mid, wide); received {embed_widths}")
        hidden, mid = (embed_widths[0], embed_widths[1]) if first_scale else (in_channels, in_channels)
        wide = embed_widths[2] if first_scale else out_channels
        self.first_conv = nn.Sequential(
            nn.Conv1d(in_channels, hidden, 1), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Conv1d(hidden, mid, 1)
        )
        self.second_conv = nn.Sequential(
            nn.Conv1d(2 * mid, wide, 1), nn.BatchNorm1d(wide), nn.ReLU(inplace=True), nn.Conv1d(wide, out_channels, 1)
        )

    def forward(self, groups: Tensor) -> Tensor:
        B, G, k, C = groups.shape
        if C != self.in_channels:
            raise ValueError(f"groups must be (B, G, k, {self.in_channels}); received {tuple(groups.shape)}")
        if not (self.fused and _plain(self.first_conv) and _plain(self.second_conv)):
            return self.forward_concat(groups)
        conv1, bn1, _, conv2 = self.first_conv
        x = batch_norm_relu_rows(bn1, F.linear(groups.reshape(B * G * k, C), conv1.weight.squeeze(-1), conv1.bias))
        x = F.linear(x, conv2.weight.squeeze(-1), conv2.bias).reshape(B * G, k, -1)  # (BG, k, mid)
        glob = x.max(dim=1).values  # (BG, mid)
        conv3, bn2, _, conv4 = self.second_conv
        mid, w3 = x.shape[2], conv3.weight.squeeze(-1)  # columns: [glob | x], as the concatenation's order
        per_point = F.linear(x, w3[:, mid:])  # (BG, k, wide)
        per_group = F.linear(glob, w3[:, :mid], conv3.bias).unsqueeze(1)  # (BG, 1, wide)
        # summed in float32 (under autocast each product is rounded once to its dtype; the sum is not again)
        h = torch.add(_widened(per_group), per_point).reshape(B * G * k, -1)  # type promotion: at least float32
        x = batch_norm_relu_rows(bn2, h)
        x = F.linear(x, conv4.weight.squeeze(-1), conv4.bias).reshape(B * G, k, -1)
        return x.max(dim=1).values.reshape(B, G, self.out_channels)

    def forward_concat(self, groups: Tensor) -> Tensor:
        """The direct transcription: the group maximum concatenated to every point, then each layer in turn."""
        B, G, k, C = groups.shape
        # Points as rows (B*G*k, C): the 1x1 convolutions become matrix products, several times faster
        # than CPU convolution kernels on these shapes; BatchNorm over rows equals BatchNorm1d over (N, L)
        # (batch statistics computed accurately by batch_norm_rows).
        x = _pointwise(self.first_conv, groups.reshape(B * G * k, C)).reshape(B * G, k, -1)
        glob = x.max(dim=1, keepdim=True).values
        x = torch.cat([glob.expand(-1, k, -1), x], dim=2).reshape(B * G * k, -1)
        x = _pointwise(self.second_conv, x).reshape(B * G, k, -1)
        return x.max(dim=1).values.reshape(B, G, self.out_channels)


def _widened(x: Tensor) -> Tensor:
    """float16 / bfloat16 -> float32; float32 and float64 as they are."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _plain(layers: nn.Sequential) -> bool:
    """Conv1d(kernel 1), BatchNorm1d (exactly), ReLU, Conv1d: the layout ``TokenEmbed.forward`` fuses."""
    kinds = [type(m) for m in layers]
    return kinds == [nn.Conv1d, nn.BatchNorm1d, nn.ReLU, nn.Conv1d]


def _pointwise(layers: nn.Sequential, x: Tensor) -> Tensor:
    """Apply Conv1d(kernel 1) / BatchNorm1d / activation layers to rows of ``x`` (N, C)."""
    for layer in layers:
        if isinstance(layer, nn.Conv1d):
            x = F.linear(x, layer.weight.squeeze(-1), layer.bias)
        elif type(layer) is nn.BatchNorm1d:  # SyncBatchNorm (train.sync_bn) keeps its own kernel
            x = batch_norm_rows(layer, x)
        else:
            x = layer(x)
    return x


def batch_norm_rows(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """``bn(x)`` for rows ``x`` (N, C), with batch statistics as accurate as BatchNorm1d on (N, C, L).

    PyTorch's CPU training kernel for 2-D float32 input loses ~30x more precision than for the same data
    laid out as (N, C, L) on channels with large means and small spreads; a two-pass mean and variance
    (``_RowBatchNorm``) is accurate. Running statistics, momentum and ``num_batches_tracked`` follow
    ``nn.BatchNorm1d`` exactly (running variance unbiased), so state dicts and eval mode are unchanged.
    Under fp16/bf16 autocast the rows are normalised in float32 (that precision is the point of this
    kernel; autocast casts the float32 result down again at the next matmul).
    """
    return _batch_norm_rows(bn, x, relu=False)


def batch_norm_relu_rows(bn: nn.BatchNorm1d, x: Tensor) -> Tensor:
    """``relu(batch_norm_rows(bn, x))`` as one autograd function (same statistics, same running-statistics
    update); under autocast the result comes back in the autocast dtype, the values the next matmul's own
    cast would give it (rounding commutes with ReLU), so that cast and a float32 copy are skipped."""
    return _batch_norm_rows(bn, x, relu=True)


def _batch_norm_rows(bn: nn.BatchNorm1d, x: Tensor, relu: bool) -> Tensor:
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    out_dtype = x.dtype  # with relu: autocast casts float32 (not float64) down at the next matmul
    if relu and x.dtype == torch.float32 and torch.is_autocast_enabled(x.device.type):
        out_dtype = torch.get_autocast_dtype(x.device.type)
    if not (bn.training or bn.running_mean is None):
        y = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return torch.relu(y).to(out_dtype) if relu else y
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"BatchNorm in training mode needs more than 1 row, got input of shape {tuple(x.shape)}")
    weight = bn.weight if bn.affine else torch.ones(x.shape[1], dtype=x.dtype, device=x.device)
    bias = bn.bias if bn.affine else torch.zeros(x.shape[1], dtype=x.dtype, device=x.device)
    y, mean, var = _RowBatchNorm.apply(x, weight, bias, bn.eps, relu, out_dtype)
    _update_running(bn, mean, var, n)
    return y


def _update_running(bn: nn.BatchNorm1d, mean: Tensor, var: Tensor, n: int) -> None:
    if bn.training and bn.track_running_stats:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            momentum = (1.0 / float(bn.num_batches_tracked)) if bn.momentum is None else bn.momentum
            bn.running_mean.lerp_(mean.to(bn.running_mean.dtype), momentum)
            bn.running_var.lerp_((var * (n / (n - 1))).to(bn.running_var.dtype), momentum)


class _RowBatchNorm(torch.autograd.Function):
    """Training-mode batch norm over the rows of (N, C), two-pass statistics, closed-form backward; with
    ``relu`` also the ReLU in the same function, its output cast to ``out_dtype`` (backward masks by it)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, eps: float, relu: bool = False,  # noqa: ANN205
                out_dtype: torch.dtype | None = None):
        mean = x.mean(dim=0)
        xhat = x - mean
        var = xhat.square().mean(dim=0)  # (vector_norm(...)**2 is 40x less accurate in float32)
        invstd = torch.rsqrt(var + eps)
        xhat.mul_(invstd)
        y = torch.addcmul(bias, xhat, weight)
        if relu:
            y = y.relu_().to(out_dtype)
        ctx.relu = relu
        ctx.save_for_backward(xhat, invstd, weight, y if relu else None)
        ctx.mark_non_differentiable(mean, var)
        return y, mean, var

    @staticmethod
    def backward(ctx, grad_y: Tensor, _mean: Tensor, _var: Tensor):  # noqa: ANN205
        xhat, invstd, weight, y = ctx.saved_tensors
        if ctx.relu:  # ReLU's backward, then the batch norm's in float32
            grad_y = torch.ops.aten.threshold_backward(grad_y.to(y.dtype), y, 0).to(xhat.dtype)
        n = grad_y.shape[0]
        grad_bias = grad_y.sum(dim=0)
        grad_weight = (grad_y * xhat).sum(dim=0)
        scale = invstd * weight
        grad_x = grad_y * scale
        grad_x.sub_(grad_bias * scale / n).addcmul_(xhat, grad_weight * scale / n, value=-1.0)
        return grad_x, grad_weight, grad_bias, None, None, None
