"""Registration of edgeai-compat (entry point ``compat`` in the ``edgeai`` group).

Adds ``edgeai grid``, ``edgeai matrix`` and ``edgeai onnx-backend-tests``. Nothing here imports numpy or a
framework: the commands import their engines when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeai_core.api import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def edgeai_register_commands(cli: click.Group) -> None:
    from edgeai_compat.commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)
