"""Option types shared by several commands."""

from __future__ import annotations

import click

PORT = click.IntRange(1, 65535)  # a TCP port: 0 would be a random one, above 65535 a traceback from bind()
