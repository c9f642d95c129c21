"""Registration of edgeai-emulator (entry point ``emulator`` in the ``edgeai`` group).

Adds ``edgeai target`` (create, start, stop, status of an emulated aarch64 target) and the demo variants
``onnxruntime-aarch64`` and ``tvm-aarch64``, which run on such a target when ``EDGEAI_ARM_TARGET`` names a
started one. Nothing here imports a framework; the commands import their modules when they run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeai_core.api import DemoVariant, hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def edgeai_register_commands(cli: click.Group) -> None:
    from edgeai_emulator.commands import COMMANDS

    for command in COMMANDS:
        cli.add_command(command)


@hookimpl
def edgeai_register_demo_variants() -> list[DemoVariant]:
    from edgeai_emulator.variants import arm_demo_variants

    return arm_demo_variants()
