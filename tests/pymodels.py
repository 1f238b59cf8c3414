"""Python models for `--model tests.pymodels:...` tests."""
import torch
from torch import nn
from torch.nn import functional as F


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 16 * 16, 10))

    def forward(self, x):
        return self.head(self.features(x))


class WithFunctionalConv(nn.Module):
    """A conv written with F.conv2d: module hooks alone would miss its MACs."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(4, 3, 3, 3))

    def forward(self, x):
        return F.conv2d(x, self.weight)


class WithFFT(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.fft.fft2(self.conv(x)).real


def tiny():
    return Tiny()


def functional_conv():
    return WithFunctionalConv()


def with_fft():
    return WithFFT()


def not_a_module():
    return 42


def broken():
    raise ValueError("no weights here")


class DataDependent(nn.Module):
    """Reads a value (.item()), which the meta device cannot: analysis falls back to the CPU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        y = self.conv(x)
        return y * float(y.abs().max().item() >= 0)


def data_dependent():
    return DataDependent()


class WrongView(nn.Module):
    """Builds, but its forward pass cannot run on the given input."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x).view(7, -1)


def wrong_view():
    return WrongView()


def exits_in_factory():
    import sys

    sys.exit(0)


class ExitsInForward(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        import sys

        sys.exit(0)


def exits_in_forward():
    return ExitsInForward()
