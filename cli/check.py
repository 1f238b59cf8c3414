"""gcost check / gcost baseline (see issue: model-size regression gate)."""
from __future__ import annotations

import click


@click.command()
def check():
    """Not built yet."""
    raise click.UsageError("gcost check is not built yet")


@click.command()
def baseline():
    """Not built yet."""
    raise click.UsageError("gcost baseline is not built yet")
