"""Python models that misbehave in the ways analyzed code can (tests/cli/test_user_code.py)."""
from __future__ import annotations

import threading

import torch.nn as nn


class Escape(BaseException):
    """Not an Exception: `except Exception` lets it through."""


class Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)


class RaisesEscape(Conv):
    def forward(self, x):
        raise Escape("out of forward")


class ReturnsInt(Conv):
    def forward(self, x):
        self.conv(x)
        return 3


class ReturnsGenerator(Conv):
    def forward(self, x):
        y = self.conv(x)
        return (t for t in [y])


class ReturnsDict(Conv):
    def forward(self, x):
        return {"out": self.conv(x)}


class OnlyOnMeta(Conv):
    """Counts (on the meta device) and fails on a real one: only timing finds it."""

    def forward(self, x):
        if x.device.type != "meta":
            raise ValueError("not on a real device")
        return self.conv(x)


def escape_in_forward():
    return RaisesEscape()


def escape_in_factory():
    raise Escape("out of the factory")


def generator_exit_in_factory():
    raise GeneratorExit("closing")


def returns_int():
    return ReturnsInt()


def returns_generator():
    return ReturnsGenerator()


def returns_dict():
    return ReturnsDict()


def only_on_meta():
    return OnlyOnMeta()


def nested(levels: int = 200):
    model: nn.Module = nn.Conv2d(3, 3, 1)
    for _ in range(levels):
        model = nn.Sequential(model)
    return model


def leaves_a_thread():
    threading.Thread(target=threading.Event().wait, name="never-ends").start()
    return nn.Conv2d(3, 4, 1)



class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("cannot print myself")


class RaisesUnprintable(Conv):
    def forward(self, x):
        raise Unprintable()


def unprintable_in_forward():
    return RaisesUnprintable()


def keyboard_interrupt_in_factory():
    raise KeyboardInterrupt("raised by the model, no Ctrl-C")


class NoisyThreadAndDel(Conv):
    def forward(self, x):
        worker = threading.Thread(target=_fails, name="worker")
        worker.start()
        worker.join()
        return self.conv(x)

    def __del__(self):
        raise SystemExit(0)


def _fails():
    raise ValueError("in a thread")


def noisy_thread_and_del():
    return NoisyThreadAndDel()
