"""The ``edgeai`` command. Built-in commands live in sibling modules; plugins add theirs through the
``edgeai_register_commands`` hook. Errors are one line on stderr (``--verbose`` adds the traceback), exit
code 2 for usage errors and 1 for failures."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

import click

from edgeai_core.errors import EdgeaiError
from edgeai_core.plugins import PluginHost


class CliError(click.ClickException):
    """An error shown as one line, ``error: ...``, with the exit code of the underlying EdgeaiError."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[misc, unused-ignore]  # a ClassVar in some click versions

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.levelname.lower()}: {record.getMessage()}"


class _StderrHandler(logging.StreamHandler):
    """Writes to the *current* ``sys.stderr``, which tests (CliRunner) and embedding programs swap."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _setup_logging(verbose: bool) -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_edgeai", False) for h in root.handlers):
        handler = _StderrHandler()
        handler.setFormatter(_Formatter())
        handler._edgeai = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbose else logging.WARNING)


def host_for(ctx: click.Context) -> PluginHost:
    """The plugin host of this invocation (created on first use, honouring --strict-plugins)."""
    root = ctx.find_root()
    obj = root.ensure_object(dict)
    if "host" not in obj:
        strict = True if root.params.get("strict_plugins") else None
        obj["host"] = PluginHost(strict=strict)
    host: PluginHost = obj["host"]
    return host


def _verbose(ctx: click.Context) -> bool:
    return bool(ctx.find_root().params.get("verbose")) or os.environ.get("EDGEAI_VERBOSE", "") == "1"


class EdgeaiGroup(click.Group):
    """Adds plugin commands on demand and turns exceptions into one-line errors."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        # Collected per invocation into a scratch group, so a long-lived `cli` object (tests, embedding)
        # never keeps commands of plugins from an earlier host.
        obj = ctx.find_root().ensure_object(dict)
        if "plugin_commands" not in obj:
            # loading plugins may log warnings before the group callback ran (--help, plugin commands)
            _setup_logging(_verbose(ctx))
            scratch = click.Group("edgeai")
            try:
                host_for(ctx).add_commands(scratch)
            except EdgeaiError as exc:
                raise CliError(str(exc), exc.exit_code) from exc
            obj["plugin_commands"] = {n: c for n, c in scratch.commands.items() if n not in self.commands}
        commands: dict[str, click.Command] = obj["plugin_commands"]
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *self._plugin_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            command = self._plugin_commands(ctx).get(cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeaiError as exc:
            if _verbose(ctx):
                traceback.print_exc()
            raise CliError(str(exc), exc.exit_code) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt as exc:
            from edgeai_core.cli.outputs import interrupted_message

            raise CliError(interrupted_message(exc, ctx), 130) from None
        except Exception as exc:
            if _verbose(ctx):
                traceback.print_exc()
            hint = "" if _verbose(ctx) else " (run `edgeai --verbose ...` for the traceback)"
            raise CliError(f"{type(exc).__name__}: {exc}{hint}", 1) from exc


@click.group(cls=EdgeaiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Log more and print tracebacks on errors.")
@click.option(
    "--strict-plugins",
    is_flag=True,
    help="Fail on a broken plugin instead of skipping it (EDGEAI_STRICT_PLUGINS=1).",
)
@click.version_option(package_name="edgeai-core", prog_name="edgeai")
def cli(verbose: bool, strict_plugins: bool) -> None:
    """edgeai: train, convert, optimize, compile and benchmark models on the way to edge devices.

    Components (datasets, models, compilers, converters, runtimes, protocols) come from installed plugins:
    `edgeai plugins` shows them, `edgeai list` and `edgeai describe NAME` explain them.
    """
    _setup_logging(verbose)


from edgeai_core.cli import bench, check, demo, info, run, serve, sweep  # noqa: E402  (commands register themselves on `cli`)

info.register(cli)
run.register(cli)
bench.register(cli)
demo.register(cli)
serve.register(cli)
check.register(cli)
sweep.register(cli)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="edgeai")
