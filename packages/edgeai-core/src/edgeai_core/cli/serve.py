"""``edgeai serve``: run a target server for one runtime on one transport (TCP or a serial line).

The protocol's parameters become options (``--host``, ``--port``, ``--token-file`` for tcp; ``--device``,
``--baudrate`` for serial) and the runtime's take a ``--runtime-`` prefix (``--runtime-threads 2``), all
derived from the records; ``--set runtime.threads=2`` works too. When listening, one JSON line goes to
stdout (``{"event": "listening", "port": ...}``) so scripts can start it with ``--port 0``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import click

from edgeai_core.cli.info import folder_option
from edgeai_core.errors import EdgeaiError, UsageError

log = logging.getLogger(__name__)


def _option_value(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def _options(params: Any, prefix: str) -> list[click.Parameter]:
    if not len(params):
        return []
    from edgeai_core.cli.run import _options as derived

    return derived(params, prefix)


class ServeCommand(click.Command):
    """Adds the chosen protocol's and runtime's parameters as options before parsing."""

    static: ClassVar[set[str]] = set()

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from edgeai_core.cli import host_for

        host = host_for(ctx)
        taken = {p.name for p in self.params if not getattr(p, "_edgeai_dynamic", False)}
        extra: list[click.Parameter] = []
        try:
            protocol = _option_value(args, "--protocol") or "tcp"
            record = host.get("protocol", protocol, where="--protocol")
            # timeout_s is the host's patience for replies; the server has --idle-timeout-s instead
            extra += [o for o in _options(record.params, "") if o.name not in taken and o.name != "timeout_s"]
            runtime = _option_value(args, "--runtime")
            if runtime:
                extra += _options(host.get("runtime", runtime, where="--runtime").params, "runtime_")
        except EdgeaiError:
            if not ctx.resilient_parsing:  # shell completion parses half-typed names: complete what it can
                raise
        self.params = [p for p in self.params if not getattr(p, "_edgeai_dynamic", False)] + extra
        return super().parse_args(ctx, args)


def _split_sets(overrides: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
    from edgeai_core.config import parse_value

    protocol: dict[str, Any] = {}
    runtime: dict[str, Any] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or section not in ("protocol", "runtime") or not name:
            raise UsageError(f"--set {item!r}: expected runtime.NAME=VALUE or protocol.NAME=VALUE")
        (protocol if section == "protocol" else runtime)[name] = parse_value(value)
    return protocol, runtime


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for
    from edgeai_core.cli.completion import complete_component

    @cli.command("serve", cls=ServeCommand)
    @click.option(
        "--protocol",
        default="tcp",
        show_default=True,
        help="Transport: tcp or serial.",
        shell_complete=complete_component("protocol"),
    )
    @click.option(
        "--runtime",
        required=True,
        help="Runtime that runs the uploaded models (`edgeai list runtimes`).",
        shell_complete=complete_component("runtime"),
    )
    @folder_option(
        "--workdir",
        default=None,
        help="The only folder the server writes to (models/ inside). Default: a temporary folder, removed on exit.",
    )
    @click.option(
        "--allow-remote",
        is_flag=True,
        help="Allow listening on a non-loopback address without --token-file (anyone who can reach it may use "
        "it). Not enough for a native-code runtime, which needs a token there.",
    )
    @click.option(
        "--allow-native-code",
        is_flag=True,
        help="Allow a runtime whose models are native code (tvm): any host that can upload a model runs its "
        "own code in this server. Required for such runtimes.",
    )
    @click.option(
        "--allowed-models",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Load only models whose SHA-256 is listed in this file (one digest per line; `sha256sum` output "
        "works). Default: any model of the runtime's formats.",
    )
    @click.option(
        "--keep-models",
        is_flag=True,
        help="Keep each host's uploaded models in the work directory after its session (default: deleted).",
    )
    @click.option(
        "--max-model-mb", type=float, default=512.0, show_default=True, help="Largest model accepted."
    )
    @click.option(
        "--workdir-quota-mb",
        type=float,
        default=None,
        help="Most the work directory may hold; an upload that would pass it is refused. "
        "[default: twice --max-model-mb]",
    )
    @click.option(
        "--max-frame-mb",
        type=float,
        default=64.0,
        show_default=True,
        help="Largest message (inputs) accepted.",
    )
    @click.option(
        "--idle-timeout-s",
        type=float,
        default=300.0,
        show_default=True,
        help="Close a host's connection after this long without a message.",
    )
    @click.option(
        "--handshake-timeout-s",
        type=float,
        default=5.0,
        show_default=True,
        help="A connection must finish HELLO (and AUTH, with a token) within this, or it is closed.",
    )
    @click.option(
        "--min-rate-kib-s",
        type=float,
        default=32.0,
        show_default=True,
        help="A message that has begun must arrive at least this fast (plus 2 s of grace), or the "
        "connection is closed.",
    )
    @click.option(
        "--max-inflight",
        type=click.IntRange(1, 65535),
        default=64,
        show_default=True,
        help="Most requests a host may keep in flight (pipelining); a host that sends more is answered "
        "TOO_MANY_REQUESTS and disconnected.",
    )
    @click.option(
        "--sample-interval-s",
        type=float,
        default=0.05,
        show_default=True,
        help="Resource sampling interval during a host's benchmark.",
    )
    @click.option("--once", is_flag=True, help="Exit after the first host's session.")
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Set a runtime or protocol parameter, e.g. --set runtime.threads=2 (repeatable).",
    )
    @click.pass_context
    def serve_cmd(
        ctx: click.Context,
        protocol: str,
        runtime: str,
        workdir: Path | None,
        allow_remote: bool,
        allow_native_code: bool,
        allowed_models: Path | None,
        keep_models: bool,
        max_model_mb: float,
        workdir_quota_mb: float | None,
        max_frame_mb: float,
        idle_timeout_s: float,
        handshake_timeout_s: float,
        min_rate_kib_s: float,
        max_inflight: int,
        sample_interval_s: float,
        once: bool,
        overrides: tuple[str, ...],
        **options: Any,
    ) -> None:
        """Serve models for a host: it uploads a model, runs inferences and collects statistics.

        Listens on 127.0.0.1 by default; a non-loopback --host needs --token-file (or --allow-remote).
        A host may set only the runtime parameters marked host-settable (`edgeai describe RUNTIME`); the
        rest are set here. A runtime that loads native code (tvm) needs --allow-native-code. Each host's
        uploads are deleted when its session ends. See docs/security.md for what each option allows.
        `edgeai serve --protocol tcp --runtime numpy --port 0` prints the port it picked as JSON on stdout.
        """
        from edgeai_core.components import Context
        from edgeai_core.records import RuntimeRecord
        from edgeai_core.wire.auth import read_token
        from edgeai_core.wire.server import (
            ServerLimits,
            TargetServer,
            check_exposure,
            read_allowed_models,
        )

        for name, value in (
            ("--max-model-mb", max_model_mb),
            ("--workdir-quota-mb", max_model_mb if workdir_quota_mb is None else workdir_quota_mb),
            ("--max-frame-mb", max_frame_mb),
            ("--idle-timeout-s", idle_timeout_s),
            ("--handshake-timeout-s", handshake_timeout_s),
            ("--min-rate-kib-s", min_rate_kib_s),
            ("--sample-interval-s", sample_interval_s),
        ):
            if not value > 0:
                raise UsageError(f"{name}: must be a number > 0, got {value:g}")
        host = host_for(ctx)
        protocol_record = host.get("protocol", protocol, where="--protocol")
        runtime_record = host.get("runtime", runtime, where="--runtime")
        assert isinstance(runtime_record, RuntimeRecord)
        set_protocol, set_runtime = _split_sets(overrides)
        protocol_params = {**protocol_record.params.from_click(options), **set_protocol}
        runtime_params = {**runtime_record.params.from_click(options, "runtime_"), **set_runtime}
        runtime_record.params.validate(runtime_params, "runtime")
        protocol_params = protocol_record.params.validate(protocol_params, "protocol")
        token_file = protocol_params.get("token_file")
        token = read_token(token_file, "--token-file") if token_file is not None else None
        bind = protocol_params.get("host")
        # refused before the runtime's framework is imported; the server checks again for every embedding
        check_exposure(
            runtime_record,
            None if bind is None else str(bind),
            token=token,
            allow_remote=allow_remote,
            allow_native_code=allow_native_code,
        )
        allowed = None if allowed_models is None else read_allowed_models(allowed_models)
        runtime_record.load()  # a missing framework fails now, not at the first upload
        temporary = workdir is None
        root = Path(tempfile.mkdtemp(prefix="edgeai-serve-")) if workdir is None else workdir
        root.mkdir(parents=True, exist_ok=True)
        try:
            transport = protocol_record.create(
                protocol_params, where="protocol", context=Context(workdir=root)
            )
            server = TargetServer(
                transport,
                runtime_record,
                runtime_params,
                workdir=root,
                token=token,
                limits=ServerLimits(
                    max_frame_bytes=int(max_frame_mb * 2**20),
                    max_model_bytes=int(max_model_mb * 2**20),
                    idle_timeout_s=idle_timeout_s,
                    handshake_timeout_s=handshake_timeout_s,
                    min_rate_bytes_s=min_rate_kib_s * 1024,
                    workdir_quota_bytes=None if workdir_quota_mb is None else int(workdir_quota_mb * 2**20),
                    max_inflight=max_inflight,
                ),
                sample_interval_s=sample_interval_s,
                allow_remote=allow_remote,
                allow_native_code=allow_native_code,
                allowed_models=allowed,
                keep_models=keep_models,
                probes=host.records("probe"),
            )
            # each host's connection and disconnection, with its outcome, goes to stderr
            logging.getLogger("edgeai_core.wire.connections").setLevel(logging.INFO)
            event = server.listen()
            click.echo(json.dumps(event))
            sys.stdout.flush()
            _stop_on_sigterm()
            try:
                server.serve(once=once)
            except KeyboardInterrupt:
                log.info("stopped")
        finally:
            if temporary:
                shutil.rmtree(root, ignore_errors=True)


def _stop_on_sigterm() -> None:
    """SIGTERM ends serving like Ctrl-C, so the temporary work folder is removed."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not the main thread (embedded use)
        signal.signal(signal.SIGTERM, handler)
