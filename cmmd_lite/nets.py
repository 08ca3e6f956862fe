"""Building blocks: MLPs with softplus and dropout, Gaussian heads, and the three decoders (Eq. 6)."""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .losses import bernoulli_nll, gaussian_nll


def full_precision(output: torch.Tensor) -> torch.Tensor:
    """A network output in float32 when autocast computed it in a 16-bit type
    (``TrainConfig.precision = "bf16"``), so the loss terms are never computed in 16 bits; any
    other dtype (float32, a float64 model) as it is."""
    return output.float() if output.dtype in (torch.bfloat16, torch.float16) else output


class MLP(nn.Sequential):
    """An ``nn.Sequential`` whose output is never 16-bit (:func:`full_precision`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return full_precision(super().forward(x))


def mlp(in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float) -> MLP:
    """Linear -> Softplus -> Dropout for each hidden width, then a linear output layer (Appendix C)."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(in_dim, width), nn.Softplus(), nn.Dropout(dropout)]
        in_dim = width
    layers.append(nn.Linear(in_dim, out_dim))
    return MLP(*layers)


class GaussianMLP(nn.Module):
    """x -> (mu, logvar) of a diagonal Gaussian, each (B, z_dim)."""

    def __init__(self, in_dim: int, hidden: Sequence[int], z_dim: int, dropout: float):
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * z_dim, dropout)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.net(x).chunk(2, dim=-1)
        return mu, logvar.clamp(-30.0, 20.0)  # exp() stays finite in float32


class GaussianDecoder(nn.Module):
    """p(x_M | x_o, z) = N(mu, sigma^2), both from an MLP on [z, x_o]; log sigma^2 bounded smoothly."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float,
                 logvar_min: float, logvar_max: float):
        super().__init__()
        self.net = mlp(in_dim, hidden, 2 * out_dim, dropout)
        self.logvar_min, self.logvar_span = logvar_min, logvar_max - logvar_min

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, raw = self.net(inputs).chunk(2, dim=-1)
        return mean, self.logvar_min + self.logvar_span * torch.sigmoid(raw)

    def nll(self, params: tuple[torch.Tensor, torch.Tensor], x_m: torch.Tensor) -> torch.Tensor:
        return gaussian_nll(x_m, *params)

    def mean(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return params[0]

    def variance(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return params[1].exp()


class BernoulliDecoder(nn.Module):
    """p(x_M | x_o, z) = Bernoulli(sigmoid(logits)), logits from an MLP on [z, x_o]."""

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int, dropout: float):
        super().__init__()
        self.net = mlp(in_dim, hidden, out_dim, dropout)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs)

    def nll(self, logits: torch.Tensor, x_m: torch.Tensor) -> torch.Tensor:
        return bernoulli_nll(x_m, logits)

    def mean(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits)

    def variance(self, logits: torch.Tensor) -> torch.Tensor:
        p = torch.sigmoid(logits)
        return p * (1 - p)


class DeconvDecoder(BernoulliDecoder):
    """The Table D1 up-convolution decoder with Bernoulli outputs, one head per missing image.

    [z, x_o] is read as a (C, 1, 1) image and up-sampled 1 -> 4 -> 8 -> 16 by a shared trunk
    (128, 64, 32 filters, ReLU). Each missing modality gets its own last layer (4x4 upconv,
    stride 2, to 32x32, the bottom row of Table D1). The paper adds "an extra layer ... with
    1 stride" for the second modality; we read that as a second head. A 28x28 modality is
    generated at 32x32 and centre-cropped back to 28x28 (the paper pads rotated MNIST to 32x32
    in training and crops at test time; cropping inside the decoder is the same model without
    the constant padding pixels in the likelihood). The loss is the sum of the heads'
    cross-entropies (Appendix C).
    """

    def __init__(self, in_dim: int, image_shapes: Sequence[tuple[int, int, int]]):
        nn.Module.__init__(self)
        for shape in image_shapes:
            if len(shape) != 3 or shape[1] > 32 or shape[2] > 32:
                raise ValueError(f"the deconv decoder generates (C, H, W) images up to 32x32; got {shape}.")
        self.image_shapes = [tuple(s) for s in image_shapes]
        self.trunk = nn.Sequential(
            nn.ConvTranspose2d(in_dim, 128, 4, 1, 0), nn.ReLU(),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.ReLU(),
        )
        self.heads = nn.ModuleList(nn.ConvTranspose2d(32, c, 4, 2, 1) for c, _, _ in self.image_shapes)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        features = self.trunk(inputs[:, :, None, None])  # (B, 32, 16, 16)
        logits = []
        for head, (_, h, w) in zip(self.heads, self.image_shapes):
            full = head(features)  # (B, C, 32, 32)
            top, left = (32 - h) // 2, (32 - w) // 2
            logits.append(full[:, :, top:top + h, left:left + w].flatten(1))
        return full_precision(torch.cat(logits, dim=1))


def initialise(module: nn.Module, std: float | None) -> None:
    """N(0, std^2) weights and zero biases (the reference code uses std = 0.001); None keeps PyTorch's."""
    if std is None:
        return
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.ConvTranspose2d)):
            nn.init.normal_(layer.weight, 0.0, std)
            nn.init.zeros_(layer.bias)


def n_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def flat_dim(shape: Sequence[int]) -> int:
    return int(math.prod(shape))
