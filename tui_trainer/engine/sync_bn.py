"""`sync_bn: true`: BatchNorm statistics over the whole global batch, not each rank's slice.

On CUDA this is PyTorch's `nn.SyncBatchNorm`. PyTorch's version refuses CPU tensors, so CPU runs
(gloo) get `CpuSyncBatchNorm`: the same maths with a differentiable all-reduce of the per-channel
sum, sum of squares and count (PyTorch's functional collective, whose backward all-reduces the
gradient; `torch.distributed.nn.functional.all_reduce` is deprecated in favour of it). Both
keep BatchNorm's parameter and buffer names, so checkpoints load into plain BatchNorm models
(single-process runs) and back.
"""

from __future__ import annotations

import torch
import torch.distributed as tdist
import torch.distributed._functional_collectives as funcol
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class CpuSyncBatchNorm(_BatchNorm):
    """BatchNorm whose training statistics are reduced over all ranks (any backend, any device)."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        """Normalise with global batch statistics in training, running statistics in eval."""
        self._check_input_dim(input)
        if not (self.training and tdist.is_available() and tdist.is_initialized()):
            return super().forward(input)
        c = input.shape[1]
        dims = [0, *range(2, input.dim())]
        x = input.float()
        local_n = torch.tensor([x.numel() / c], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum(dims), (x * x).sum(dims), local_n])
        world = tdist.group.WORLD
        assert world is not None  # the default group exists once the process group is initialized
        stats = funcol.wait_tensor(funcol.all_reduce(stats, "sum", world))
        total = stats[-1]
        mean = stats[:c] / total
        var = (stats[c : 2 * c] / total - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            assert self.running_var is not None and self.num_batches_tracked is not None
            self.num_batches_tracked.add_(1)
            momentum = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
            with torch.no_grad():
                unbiased = var * total / (total - 1).clamp_min(1)
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = [1, c] + [1] * (input.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y.to(input.dtype)


def _to_cpu_sync(module: nn.Module) -> nn.Module:
    out = module
    if isinstance(module, _BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        out = CpuSyncBatchNorm(
            module.num_features,
            module.eps,
            module.momentum,
            module.affine,
            module.track_running_stats,
        )
        if module.affine:  # the same Parameter objects: requires_grad and identity carry over
            out.weight, out.bias = module.weight, module.bias
        if module.track_running_stats:
            out.running_mean, out.running_var = module.running_mean, module.running_var
            out.num_batches_tracked = module.num_batches_tracked
        out.train(module.training)
    for name, child in module.named_children():
        out.add_module(name, _to_cpu_sync(child))
    return out


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> tuple[nn.Module, int]:
    """Replace every BatchNorm layer with its synchronised form; returns (model, layers)."""
    count = sum(isinstance(m, _BatchNorm) for m in model.modules())
    if count == 0:
        return model, 0
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model), count
    return _to_cpu_sync(model).to(device), count
