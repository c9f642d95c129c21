"""The ``edgeai target`` command group: create, start, stop and status of an emulated aarch64 target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgeai_emulator.build import ARCHES, RUNTIMES

_FOLDER = click.Path(file_okay=False, path_type=Path)


@click.group("target")
def target_group() -> None:
    """An emulated 64-bit ARM Linux target (QEMU user mode, Debian arm64) that runs `edgeai serve`.

    Needs root, binfmt_misc and `apt-get install -y qemu-user-static binfmt-support debootstrap`. Latency
    measured on it is emulated time (20-80x native or slower), never device time.
    """


_COUNTER_OPTIONS = [
    click.option(
        "--with-counter",
        is_flag=True,
        help="Also install the guest instruction counter: QEMU's insn plugin, built once from the sources of "
        "the installed qemu-user (apt-get source) and cached, run by the dynamic qemu-aarch64. Needs "
        "qemu-user, gcc, libglib2.0-dev, pkg-config, dpkg-dev and a deb-src entry.",
    ),
    click.option(
        "--counter-plugin",
        type=click.Path(dir_okay=False, exists=True, path_type=Path),
        default=None,
        help="Install this already built insn plugin (libinsn.so of the installed qemu-user's QEMU version) "
        "as the instruction counter instead of building one.",
    ),
]


def _counter_options(command: Any) -> Any:
    for option in reversed(_COUNTER_OPTIONS):
        command = option(command)
    return command


def _setup_counter(folder: Path, with_counter: bool, counter_plugin: Path | None) -> None:
    if not with_counter and counter_plugin is None:
        return
    from edgeai_core.api import StreamProgress
    from edgeai_emulator.counter import setup_counter

    setup_counter(folder, StreamProgress(), plugin=counter_plugin)


@target_group.command("create")
@click.argument("arch", type=click.Choice(sorted(ARCHES)))
@click.argument("folder", type=_FOLDER)
@click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    type=click.Choice(list(RUNTIMES)),
    help="Runtime to install in the target, with its plugin and pinned packages (repeatable). "
    "[default: onnxruntime]",
)
@click.option(
    "--mirror",
    default=None,
    help="Debian mirror for debootstrap. [default: the Debian archive apt uses on this machine, else "
    "http://deb.debian.org/debian]",
)
@click.option(
    "--source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The edgeai checkout whose packages are built as wheels for the target. [default: the checkout "
    "this edgeai-core runs from]",
)
@click.option("--resume", is_flag=True, help="Continue a half-built target from its last completed stage.")
@_counter_options
def create_cmd(
    arch: str,
    folder: Path,
    runtimes: tuple[str, ...],
    mirror: str | None,
    source: Path | None,
    resume: bool,
    with_counter: bool,
    counter_plugin: Path | None,
) -> None:
    """Build an ARCH root filesystem in FOLDER with python, edgeai-core and the runtimes (about 5 minutes).

    Stages: debootstrap (Debian bookworm minbase), a venv at /opt/edgeai/venv, then pip install of the
    wheels built from this checkout and the pinned runtime packages. FOLDER/edgeai-target.json records
    what was built; a failed build is named there and `--resume` continues it.
    """
    from edgeai_core.api import StreamProgress
    from edgeai_emulator.build import create_target

    state = create_target(
        folder, arch, runtimes, StreamProgress(), mirror=mirror, resume=resume, source=source
    )
    _setup_counter(folder, with_counter, counter_plugin)
    click.echo(
        f"target ready: {folder} ({state.arch}, runtimes {', '.join(state.runtimes)}); "
        f"start it with `edgeai target start {folder}`"
    )


@target_group.command("refresh")
@click.argument("folder", type=_FOLDER)
@click.option(
    "--source",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="The edgeai checkout to build the wheels from. [default: the checkout this edgeai-core runs from]",
)
@click.option(
    "--runtime",
    "runtimes",
    multiple=True,
    type=click.Choice(list(RUNTIMES)),
    help="Also install this runtime if the target lacks it (repeatable; needs the package index).",
)
@_counter_options
def refresh_cmd(
    folder: Path,
    source: Path | None,
    runtimes: tuple[str, ...],
    with_counter: bool,
    counter_plugin: Path | None,
) -> None:
    """Reinstall edgeai-core and the runtime plugins in a stopped target from the checkout (about 30 s).

    The runtime packages (onnxruntime, TVM, LiteRT) stay; only edgeai's own code is replaced, so a target
    built once keeps working as the checkout changes. --runtime adds a runtime the target lacks;
    --with-counter (or --counter-plugin) adds the instruction counter.
    """
    from edgeai_core.api import StreamProgress
    from edgeai_emulator.build import refresh_target

    state = refresh_target(folder, StreamProgress(), source=source, add=runtimes)
    click.echo(
        f"refreshed: {folder} (edgeai-core {state.versions.get('edgeai-core', '?')}, "
        f"runtimes {', '.join(state.runtimes)})"
    )
    _setup_counter(folder, with_counter, counter_plugin)


@target_group.command("start")
@click.argument("folder", type=_FOLDER)
@click.option("--runtime", default=None, help="Runtime to serve. [default: the target's first runtime]")
@click.option(
    "--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0: any free one)."
)
@click.option(
    "--token-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="The shared secret hosts must present. [default: a fresh FOLDER/<runtime>.token]",
)
@click.option(
    "--timeout-s",
    type=float,
    default=300.0,
    show_default=True,
    help="How long to wait for the server to listen (imports are slow under emulation).",
)
def start_cmd(
    folder: Path, runtime: str | None, port: int, token_file: Path | None, timeout_s: float
) -> None:
    """Start `edgeai serve --protocol tcp` for one runtime inside the target, on 127.0.0.1.

    Prints one JSON line like `edgeai serve` (event, port) plus host, runtime, token_file, target, emulated
    and isa, then returns; the server keeps running until `edgeai target stop FOLDER`. One server per
    runtime may run at a time. TVM's server runs with --allow-native-code (docs/security.md).
    """
    from edgeai_core.api import StreamProgress
    from edgeai_emulator.server import start_target

    event = start_target(folder, StreamProgress(), runtime=runtime, port=port, token_file=token_file,
                         timeout_s=timeout_s)  # fmt: skip
    click.echo(json.dumps(event))


@target_group.command("stop")
@click.argument("folder", type=_FOLDER)
def stop_cmd(folder: Path) -> None:
    """Stop every server of the target and unmount everything under FOLDER/rootfs. Always safe to run."""
    from edgeai_core.api import StreamProgress
    from edgeai_emulator.server import stop_target

    result = stop_target(folder, StreamProgress())
    stopped = ", ".join(result["stopped"]) or "no server was running"
    click.echo(f"stopped: {stopped}; nothing mounted under {folder}")


@target_group.command("status")
@click.argument("folder", type=_FOLDER)
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status_cmd(folder: Path, as_json: bool) -> None:
    """Say what the target holds: build stage, versions, running servers, mounts."""
    from edgeai_emulator.server import target_status

    status = target_status(folder)
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    state = "complete" if status["complete"] else f"half-built: {status['problem']}"
    click.echo(f"target: {status['target']} ({status['arch']}, emulated, Debian {status['suite']})")
    click.echo(f"state: {state}")
    click.echo(f"runtimes: {', '.join(status['runtimes'])}")
    if status["versions"]:
        click.echo("versions: " + ", ".join(f"{k} {v}" for k, v in status["versions"].items()))
    if not status["servers"]:
        click.echo("servers: none running")
    for name, server in status["servers"].items():
        alive = "running" if server["alive"] else "gone (run `edgeai target stop` to clean up)"
        click.echo(f"server {name}: {alive}, pid {server['pid']}, 127.0.0.1:{server['port']}, "
                   f"token {server['token_file']}")  # fmt: skip
    click.echo(f"mounted: {', '.join(status['mounted']) or 'nothing'}")
    counter = status.get("counter")
    if counter:
        click.echo(f"instruction counter: QEMU {counter.get('qemu')}, plugin {counter.get('plugin')}")


@target_group.command("count")
@click.argument("folder", type=_FOLDER)
@click.argument("model", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--runtime", default=None, help="Runtime that runs MODEL. [default: a run folder's own runtime]"
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A runtime parameter (repeatable; the value is read as JSON, else as text). [default: threads=1 "
    "for a model file; a run folder's own runtime table]",
)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True, help="Pairs of runs.")
@click.option(
    "--low", type=click.IntRange(min=0), default=10, show_default=True, help="Inferences of the short run."
)
@click.option(
    "--high", type=click.IntRange(min=1), default=110, show_default=True, help="Inferences of the long run."
)
@click.option(
    "--no-write", is_flag=True, help="Do not add the `instructions` section to a run folder's results.json."
)
@click.option("--json", "as_json", is_flag=True, help="Print the section as JSON.")
def count_cmd(
    folder: Path,
    model: Path,
    runtime: str | None,
    params: tuple[str, ...],
    repeats: int,
    low: int,
    high: int,
    no_write: bool,
    as_json: bool,
) -> None:
    """Guest instructions per inference of MODEL on the target (needs its instruction counter).

    MODEL is a run folder (its last artifact, run with its runtime; the result is added to its
    results.json as the `instructions` section, which the report shows beside latency) or a model file with
    its sidecar (--runtime needed). Each repeat runs the runtime twice inside the target under the counting
    qemu-aarch64, with LOW and HIGH inferences of one seeded batch of 1; instructions per inference =
    (total_high - total_low) / (HIGH - LOW). Prints the mean and the spread ((max - min) / mean).
    About 6 s per run for the digits CNN.
    """
    from edgeai_core.api import StreamProgress
    from edgeai_emulator.counter import count_instructions, resolve_model, write_section

    values: dict[str, Any] = {}
    for item in params:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise click.UsageError(f"--param {item!r}: expected KEY=VALUE")
        try:
            values[key] = json.loads(text)
        except ValueError:
            values[key] = text
    what = resolve_model(model, runtime, values)
    if what.results is None and not values:
        what = type(what)(what.artifact, what.runtime, {"threads": 1})
    section = count_instructions(folder, what, StreamProgress(), repeats=repeats, low=low, high=high)
    data = section.to_json()
    if what.results is not None and not no_write:
        write_section(what.results, section)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    written = f"; written to {what.results}" if what.results is not None and not no_write else ""
    click.echo(
        f"{section.per_inference:,.0f} {section.isa} instructions per inference of {section.artifact} "
        f"({section.runtime}, batch 1), spread {section.spread:.3%} over {len(section.runs)} repeats "
        f"({section.emulator}){written}"
    )


COMMANDS = [target_group]

__all__ = ["COMMANDS", "target_group"]
