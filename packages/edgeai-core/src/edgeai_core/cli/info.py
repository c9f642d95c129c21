"""``edgeai plugins``, ``edgeai list`` and ``edgeai describe``: what is installed and how to use it.

These commands read registration records only and never import a framework.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from edgeai_core.errors import UnknownComponentError, UsageError
from edgeai_core.jsonvalues import attributes
from edgeai_core.records import KINDS, Registration

F = TypeVar("F", bound=Callable[..., Any])


def folder_option(*decls: str, **attrs: Any) -> Callable[[F], F]:
    """``click.option(*decls, **attrs)`` whose value is a folder (a :class:`~pathlib.Path`, never a file)."""
    return click.option(*decls, type=click.Path(file_okay=False, path_type=Path), **attrs)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


def text_table(rows: list[list[str]], header: list[str]) -> str:
    """Rows as aligned text columns under an upper-case header (the CLI's tables)."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(header, widths, strict=False)).rstrip()]
    for row in rows:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip())
    return "\n".join(lines)


_table = text_table  # the name cli/demo.py imports


def _kind(value: str) -> str:
    kind = value.lower().rstrip("s") if value.lower() not in KINDS else value.lower()
    if kind not in KINDS:
        raise UnknownComponentError("component kind", value, KINDS)
    return kind


def _facts_text(record: Registration) -> str:
    facts = record.facts()
    if record.kind == "dataset":
        return f"task={facts['task']}"
    if record.kind == "model":
        return f"format={facts['format']}"
    if record.kind == "compiler":
        return f"{'|'.join(facts['input_formats'])} -> {facts['output_format']}"
    if record.kind == "converter":
        return f"{facts['input_format']} -> {facts['output_format']}"
    if record.kind in ("runtime", "analyzer"):
        return f"formats={'|'.join(facts['formats'])}"
    return ""


def record_json(record: Registration, status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        **attributes(record, ("kind", "name", "summary", "provider", "factory")),
        **record.facts(),
        "params": [p.name for p in record.params],
        **(status or statuses([record])[record.qualified_name]),
    }


def statuses(records: list[Registration]) -> dict[str, dict[str, Any]]:
    """By qualified name: ``{"status": "ok"}``, or ``{"status": "unavailable", "missing": module, "install":
    command}`` when something the component's factory needs cannot be found (looked up, never imported)."""
    from edgeai_core.readiness import availabilities

    return {
        record.qualified_name: {"status": "ok"} if missing is None else {"status": "unavailable", **missing}
        for record, missing in zip(records, availabilities(records), strict=True)
    }


def unavailable_lines(records: list[Registration], found: dict[str, dict[str, Any]]) -> list[str]:
    """One line per component that cannot be built here: what it needs and the command that brings it."""
    lines = []
    for record in records:
        status = found[record.qualified_name]
        if status["status"] != "ok":
            how = status["install"]
            lines.append(
                f"unavailable: {record.qualified_name} needs '{status['missing']}', which is not installed"
                + (f": {how}" if how.startswith("pip install") else f" ({how})")
            )
    return lines


SETTINGS = ("benchmark", "evaluation", "resources", "fidelity", "analysis")


def _settings_params(name: str) -> Any:
    if name == "benchmark":
        from edgeai_core.benchmark import BENCHMARK_PARAMS

        return BENCHMARK_PARAMS
    from edgeai_core.config import ANALYSIS_PARAMS, EVALUATION_PARAMS, FIDELITY_PARAMS, RESOURCES_PARAMS

    params = {"evaluation": EVALUATION_PARAMS, "fidelity": FIDELITY_PARAMS, "analysis": ANALYSIS_PARAMS}
    return params.get(name, RESOURCES_PARAMS)


TARGET_KINDS = ("target", "targets")


def targets_option(func: F) -> F:
    """``--targets FILE`` (repeatable): the user's target profile files."""
    return click.option(
        "--targets",
        "target_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="TOML file of your own target profiles ([targets.NAME] tables; repeatable).",
    )(func)


def _list_targets(profiles: list[Any], as_json: bool) -> None:
    from edgeai_core.targetprofiles import format_bytes

    if as_json:
        echo_json([p.to_json() for p in profiles])
        return
    rows = []
    for p in profiles:
        clock = f"{p.clock_mhz:g} MHz" if p.clock_mhz else "-"
        storage = format_bytes(p.storage_bytes) if p.storage_bytes else "-"
        cpu = f"{p.cores} x {clock}"
        rows.append(
            [
                p.name,
                p.arch,
                cpu,
                format_bytes(p.ram_bytes),
                storage,
                ",".join(p.dtypes),
                p.provider,
                p.summary,
            ]
        )
    click.echo(text_table(rows, ["target", "arch", "cpu", "ram", "storage", "dtypes", "provider", "summary"]))


def describe_target(profile: Any, as_json: bool) -> None:
    """``edgeai describe TARGET``: every field of the profile (``--json``: its JSON)."""
    from edgeai_core.targetprofiles import format_bytes

    if as_json:
        echo_json({"kind": "target", **profile.to_json()})
        return
    click.echo(f"target {profile.name}: {profile.summary}")
    for key, value in profile.to_json().items():
        if key in ("name", "summary") or value in ("", None, [], {}):
            continue
        if key.endswith("_bytes") and isinstance(value, int):
            value = format_bytes(value)
        elif key.startswith("runtime_") and isinstance(value, dict):
            value = ", ".join(f"{k} {format_bytes(v)}" for k, v in value.items())
        elif key == "operators":
            for runtime, lists in value.items():
                for fmt, ops in lists.items():
                    click.echo(f"  operators {runtime} ({fmt}, {len(ops)}): {', '.join(ops)}")
            continue
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        click.echo(f"  {key}: {value}")


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for
    from edgeai_core.cli.completion import complete_describable, complete_kind

    @cli.command("plugins")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--all", "show_all", is_flag=True, help="Also list plugins disabled by EDGEAI_*_PLUGINS.")
    @click.pass_context
    def plugins_cmd(ctx: click.Context, as_json: bool, show_all: bool) -> None:
        """List installed plugins: version, status (ok, broken with the reason, disabled) and components."""
        host = host_for(ctx)
        infos = host.plugin_infos(include_disabled=show_all)
        conflicts = [str(c) for c in host.conflicts()]
        found = statuses([r for info in infos for r in info.components])
        if as_json:
            docs = []
            for info in infos:
                doc = info.to_json()
                for component, record in zip(doc["components"], info.components, strict=True):
                    component.update(found[record.qualified_name])
                docs.append(doc)
            echo_json({"plugins": docs, "conflicts": conflicts})
            return
        rows = []
        unavailable: list[str] = []
        for info in infos:
            if info.status == "ok":
                missing = unavailable_lines(list(info.components), found)
                unavailable += missing
                detail = (
                    ", ".join(
                        f"{r.kind}:{r.name}"
                        + (" (unavailable)" if any(f" {r.qualified_name} " in m for m in missing) else "")
                        for r in info.components
                    )
                    or "(no components)"
                )
            else:
                detail = info.error or info.status
            rows.append([info.name, info.distribution or "-", info.version or "-", info.status, detail])
        click.echo(text_table(rows, ["plugin", "distribution", "version", "status", "components"]))
        for line in unavailable:
            click.echo(line)
        for conflict in conflicts:
            click.echo(f"conflict: {conflict}", err=True)

    @cli.command("list")
    @click.argument("kind", required=False, shell_complete=complete_kind)
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @targets_option
    @click.pass_context
    def list_cmd(ctx: click.Context, kind: str | None, as_json: bool, target_files: tuple[Path, ...]) -> None:
        """List components, optionally of one KIND (dataset, model, compiler, converter, runtime, protocol, probe,
        analyzer), or the target profiles (`edgeai list target`)."""
        if kind is not None and kind.lower() in TARGET_KINDS:
            from edgeai_core.targetprofiles import target_profiles

            _list_targets(list(target_profiles(host_for(ctx), target_files).values()), as_json)
            return
        if target_files:
            raise UsageError("--targets: applies to `edgeai list target`")
        kind = _kind(kind) if kind else None
        records = host_for(ctx).records(kind)
        found = statuses(list(records))
        if as_json:
            echo_json([record_json(r, found[r.qualified_name]) for r in records])
            return
        if not records:
            click.echo(f"no {kind or 'component'} is installed; `edgeai plugins` shows what is")
            return
        missing = unavailable_lines(list(records), found)
        rows = [
            [r.kind, r.name, _facts_text(r), r.provider, found[r.qualified_name]["status"], r.summary]
            for r in records
        ]
        click.echo(text_table(rows, ["kind", "name", "formats/task", "provider", "status", "summary"]))
        for line in missing:  # the exact command that makes each one available
            click.echo(line)

    @cli.command("describe")
    @click.argument("name", shell_complete=complete_describable)
    @click.option("--json", "as_json", is_flag=True, help="Print the parameters' JSON Schema.")
    @targets_option
    @click.pass_context
    def describe_cmd(ctx: click.Context, name: str, as_json: bool, target_files: tuple[Path, ...]) -> None:
        """Explain a component: summary, formats or task, and every parameter with type, default and help.

        NAME is a component name, KIND:NAME where a name is used by several kinds (runtime:NAME), one of
        the settings tables benchmark, evaluation, resources, or a target profile (TARGET or target:TARGET).
        """
        if name in SETTINGS:
            params = _settings_params(name)
            schema = params.json_schema(title=name, description=f"[{name}] settings of a pipeline config")
            if as_json:
                echo_json(schema)
            else:
                click.echo(f"[{name}] settings of a pipeline config\n")
                _print_params(params)
            return
        host = host_for(ctx)
        from edgeai_core.targetprofiles import get_profile, target_profiles

        if name.partition(":")[0] in TARGET_KINDS:
            profiles = target_profiles(host, target_files)
            describe_target(get_profile(profiles, name.partition(":")[2], "NAME"), as_json)
            return
        if ":" in name:
            kind, _, short = name.partition(":")
            found = [host.get(_kind(kind), short)]
        else:
            found = host.find(name)
        if not found:
            profiles = target_profiles(host, target_files)
            if name in profiles:
                describe_target(profiles[name], as_json)
                return
            names = sorted(
                {n for kind_names in host.names().values() for n in kind_names}
                | set(SETTINGS)
                | set(profiles)
            )
            raise host.unknown_component("component", name, names)
        if len(found) > 1:
            choices = " or ".join(f"{r.kind}:{name}" for r in found)
            raise UsageError(f"'{name}' names a {' and a '.join(r.kind for r in found)}; say {choices}")
        record = found[0]
        if as_json:
            schema = record.params.json_schema(title=record.qualified_name, description=record.summary)
            schema["x-edgeai"] = {k: v for k, v in record_json(record).items() if k not in ("params",)}
            echo_json(schema)
            return
        click.echo(f"{record.kind} {record.name}: {record.summary}")
        click.echo(f"  provider: {record.provider}    factory: {record.factory}")
        for line in unavailable_lines([record], statuses([record])):
            click.echo(f"  {line}")
        for key, value in record.facts().items():
            click.echo(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
        click.echo("")
        _print_params(record.params)


def _print_params(params: Any) -> None:
    if not len(params):
        click.echo("no parameters")
        return
    rows = []
    for p in params:
        default = "(required)" if p.required else json.dumps(p.default, default=str)
        rows.append([p.name, p.describe_type(), default, p.help])
    click.echo(text_table(rows, ["parameter", "type", "default", "help"]))
