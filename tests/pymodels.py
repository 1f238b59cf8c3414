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


class TokenAttention(nn.Module):
    """nn.MultiheadAttention on (tokens, features) inputs: its fused fast path must not hide MACs."""

    def __init__(self, features: int = 8, heads: int = 2):
        super().__init__()
        self.attn = nn.MultiheadAttention(features, heads, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x, need_weights=False)[0]


class ScaledDotProduct(nn.Module):
    """F.scaled_dot_product_attention with bias-free projections."""

    def __init__(self, features: int = 8):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(features, features, bias=False) for _ in range(3))

    def forward(self, x):
        return F.scaled_dot_product_attention(self.q(x), self.k(x), self.v(x))


class Recurrent(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(input_size=4, hidden_size=3, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


class EinsumProjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(8, 4))

    def forward(self, x):
        return torch.einsum("bld,dk->blk", x, self.weight)


class InPlaceActivations(nn.Module):
    """Only free operators besides the conv: in-place pointwise ops, splits, comparisons, norms."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = self.conv(x)
        a, b = torch.unsafe_split(y, 2, dim=1)
        a = a.sigmoid_() + b.tanh_() + F.hardswish(b.clone(), inplace=True)
        mask = (a > 0.5).eq(True).ne(False)
        a = a.masked_fill(mask, 0.0) + torch.linalg.vector_norm(a, dim=1, keepdim=True)
        return torch.roll(a, 1, dims=2).softmax(dim=-1)


class WithOwnParameters(nn.Module):
    """A parent holding a parameter itself (like ViT's pos_embedding) besides its children."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.pos = nn.Parameter(torch.zeros(1, 5, 8))

    def forward(self, x):
        return self.block(x + self.pos)


class FailsInABlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3)
        self.block = Asserting()

    def forward(self, x):
        return self.block(self.stem(x))


class Asserting(nn.Module):
    def forward(self, x):
        assert x.shape[1] == 5, "expected 5 channels"
        return x


HELD = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())


def held():
    """Returns the same model object every time, as a registry or a cache would."""
    return HELD


def token_attention():
    return TokenAttention()


def scaled_dot_product():
    return ScaledDotProduct()


def recurrent():
    return Recurrent()


def einsum_projection():
    return EinsumProjection()


def in_place_activations():
    return InPlaceActivations()


def fails_in_a_block():
    return FailsInABlock()


def with_kwargs(width: int = 4, bias: bool = True):
    return nn.Conv2d(3, width, 1, bias=bias)


def with_own_parameters():
    """Row "0" holds `pos` itself beside its child row "0/block"."""
    return nn.Sequential(WithOwnParameters())


def conv_relu_conv():
    """The hand-checked training-memory model: conv 3->4, ReLU, conv 4->5, all 3x3 with padding 1."""
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 5, 3, padding=1))
