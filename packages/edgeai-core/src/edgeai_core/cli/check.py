"""``edgeai check MODEL_OR_CONFIG --target NAME``: will the model fit that device?

For a model file, the analyzer of its format computes its complexity (:mod:`edgeai_core.fit`); for a pipeline
config, the model file it loads when the pipeline runs it as it is (a pipeline that builds its model needs
the built artifact: ``edgeai run`` checks that once it exists, before the benchmark); for a run's folder (or
its ``results.json``), the final artifact that run built. Then, per target profile: memory (RAM and storage,
with the margin), operators, element types, and a one-line verdict.
Exit code 0 when every target fits, 1 when some do not, 2 for usage errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgeai_core.cli.info import echo_json
from edgeai_core.errors import UsageError

CONFIG_SUFFIXES = (".toml", ".json", ".yaml", ".yml")
RESULTS = "results.json"
ARTIFACT_KINDS = ("model", "compiler", "converter")


def run_artifact(path: Path) -> tuple[Any, str | None]:
    """The final artifact of the run whose folder (or ``results.json``) is ``path``, and the target profile
    its config named (None when it named none)."""
    import json

    from edgeai_core.artifacts import Artifact

    results = path / RESULTS if path.is_dir() else path
    if not results.is_file():
        raise UsageError(
            f"MODEL_OR_CONFIG: {path} is a folder without {RESULTS}; give a model file, a config or a run"
        )
    try:
        doc = json.loads(results.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"MODEL_OR_CONFIG: {results} is not readable JSON: {exc}") from None
    steps = [
        s
        for s in (doc.get("steps") or [])
        if isinstance(s, dict) and s.get("kind") in ARTIFACT_KINDS and isinstance(s.get("artifact"), dict)
    ]
    if not steps:
        raise UsageError(
            f"MODEL_OR_CONFIG: the run in {results} built no artifact (status {doc.get('status')})"
        )
    artifact_path = Path(steps[-1]["artifact"]["path"])
    if not artifact_path.is_absolute():
        artifact_path = results.parent / artifact_path
    if not artifact_path.exists():
        raise UsageError(f"MODEL_OR_CONFIG: the run's final artifact {artifact_path} is missing")
    profile = doc.get("target_profile")
    named = profile.get("name") if isinstance(profile, dict) and profile.get("origin") == "named" else None
    return Artifact.load(artifact_path), named


def _count(value: int) -> str:
    """``3.50 M``, ``300.8 M``, ``1.2 G``, ``812``."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            number = value / scale
            return f"{number:.2f} {unit}" if number < 10 else f"{number:.1f} {unit}"
    return str(value)


def model_line(name: str, summary: dict[str, Any], weight_dtypes: dict[str, int]) -> str:
    from edgeai_core.targetprofiles import format_bytes

    dtypes = ", ".join(weight_dtypes) or "no weights"
    line = (
        f"{name}: {summary['format']}, {_count(summary['params'])} params, {_count(summary['macs'])} MACs, "
        f"weights {format_bytes(summary['weight_bytes'])} ({dtypes}), "
        f"peak activations {format_bytes(summary['peak_activation_bytes'])} [analyzer {summary['analyzer']}]"
    )
    if summary["unknown_ops"]:
        line += f"; lower bounds: unknown operators {', '.join(summary['unknown_ops'])}"
    return line


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for

    @cli.command("check")
    @click.argument("model_or_config", metavar="MODEL_OR_CONFIG", type=click.Path(path_type=Path))
    @click.option(
        "--target",
        "targets",
        multiple=True,
        metavar="NAME",
        help="Target profile to check against (repeatable; `edgeai list target`). Default: the config's "
        "[target] profile.",
    )
    @click.option(
        "--targets",
        "target_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help="TOML file of your own target profiles ([targets.NAME] tables; repeatable).",
    )
    @click.option("--runtime", default=None, help="Runtime the model will run in (picks its overheads).")
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a value of CONFIG, as for `edgeai run`.",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the analysis and every verdict as JSON.")
    @click.pass_context
    def check_cmd(
        ctx: click.Context,
        model_or_config: Path,
        targets: tuple[str, ...],
        target_files: tuple[Path, ...],
        runtime: str | None,
        overrides: tuple[str, ...],
        as_json: bool,
    ) -> None:
        """Check whether the model in MODEL_OR_CONFIG fits each --target: memory (weights + peak activations
        + runtime against RAM; the file against storage or flash, with the margin), operators the target's
        runtimes lack, element types it does not compute in. One verdict line per target.

        MODEL_OR_CONFIG is a model file, a pipeline config (its model file, when it runs one as it is), or a
        run's output folder or results.json (the final artifact that run built).

        Exit code: 0 when every target fits, 1 when some do not (or could not be checked), 2 for usage errors.
        `edgeai check mobilenetv2.onnx --target raspberry-pi-4 --target cortex-m4`
        """
        from edgeai_core.artifacts import Artifact, IOSpec
        from edgeai_core.fit import all_fit, analyze_artifact, check_targets, model_summary
        from edgeai_core.targetprofiles import get_profile, target_profiles

        host = host_for(ctx)
        path = model_or_config
        tables: dict[str, Any] = {}
        if path.is_dir() or path.name == RESULTS:
            if overrides:
                raise UsageError("--set: applies to a pipeline config, not to a run")
            artifact, named = run_artifact(path)
            if not targets and named:
                targets = (named,)
        elif path.suffix.lower() in CONFIG_SUFFIXES and not path.name.endswith(".edgeai.json"):
            from edgeai_core.config import load_config
            from edgeai_core.fitstage import model_file_artifact
            from edgeai_core.planner import plan_pipeline

            config = load_config(path, overrides)
            plan = plan_pipeline(config, host, target_files=target_files)
            tables = config.targets
            if not targets and config.target_profile:
                targets = (config.target_profile,)
            runtime = runtime or plan.runtime.record.name
            artifact = model_file_artifact(plan)
            if artifact is None:
                why = "has steps" if plan.steps else f"builds its model ({plan.model.record.name})"
                raise UsageError(
                    f"{path}: the pipeline {why}, so the fit check needs its final artifact: `edgeai run {path} "
                    "-o DIR` checks it once built, before the benchmark (with [target] profile set), and "
                    "`edgeai check DIR --target NAME` checks the artifact of that run"
                )
        else:
            if overrides:
                raise UsageError("--set: applies to a pipeline config, not to a model file")
            from edgeai_core.modelfiles import identify

            found = identify(path, host)
            artifact = found.artifact or Artifact(path, found.format, IOSpec((), ()))
        if not targets:
            raise UsageError("--target: name at least one target profile (`edgeai list target` lists them)")
        profiles = target_profiles(host, target_files, tables)
        chosen = [get_profile(profiles, name) for name in dict.fromkeys(targets)]
        complexity = analyze_artifact(host, artifact)
        size = artifact.size_bytes
        fits = check_targets(complexity, chosen, artifact_bytes=size, runtime=runtime)
        summary = {"path": str(artifact.path), "artifact_bytes": size, **model_summary(complexity)}
        if as_json:
            echo_json({"model": summary, "targets": [f.to_json() for f in fits], "fits": all_fit(fits)})
        else:
            width = max(len(f.target) for f in fits)
            click.echo(model_line(Path(artifact.path).name, summary, dict(complexity.weight_bytes)))
            for fit in fits:
                click.echo(f"{fit.target:<{width}}  {fit.verdict}")
                for line in fit.details():
                    click.echo(f"{'':<{width}}    {line}")
        if not all(f.fits for f in fits):
            ctx.exit(1)
