"""``edgeai run`` (a pipeline config) and ``edgeai train`` (one model on one dataset)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import click

from edgeai_core.cli.info import echo_json, folder_option, targets_option
from edgeai_core.cli.outputs import claim_output, force_option
from edgeai_core.errors import EdgeaiError, UsageError
from edgeai_core.validity import verdict_line


def _summary(doc: dict[str, Any], results: Path) -> dict[str, Any]:
    latency = doc.get("latency") or {}
    stats = latency.get("stats") or {}
    quality = doc.get("quality") or {}
    fidelity = [e for e in (doc.get("fidelity") or {}).get("steps") or [] if isinstance(e, dict)]
    return {
        "status": doc.get("status"),
        "results": str(results),
        "name": doc.get("name"),
        "latency_median_ns": stats.get("median"),
        "latency_p99_ns": stats.get("p99"),
        "samples": stats.get("count"),
        "accuracy": quality.get("accuracy"),
        "fidelity_over_tolerance": [e["step"] for e in fidelity if e.get("status") == "over_tolerance"],
        "artifact_bytes": (doc["steps"][-1].get("artifact") or {}).get("size_bytes")
        if doc.get("steps")
        else None,
        "validity": (doc.get("validity") or {}).get("verdict"),
        "validity_reasons": (doc.get("validity") or {}).get("reasons") or [],
    }


class ComponentCommand(click.Command):
    """A command whose options depend on its MODEL and DATASET arguments.

    Before parsing, it finds the two positional arguments and adds the model's parameters as options
    (``--epochs``) and the dataset's as ``--dataset-<name>`` options, all derived from the records.
    """

    value_options: ClassVar[set[str]] = {"--output", "-o", "--seed", "--set"}

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from edgeai_core.cli import host_for

        positional = _positionals(args, self.value_options)
        host = host_for(ctx)
        extra: list[click.Parameter] = []
        try:
            if positional:
                record = host.get("model", positional[0], where="MODEL")
                extra += _options(record.params, "")
                if len(positional) > 1:
                    extra += _options(host.get("dataset", positional[1], where="DATASET").params, "dataset_")
        except EdgeaiError:
            if not ctx.resilient_parsing:  # shell completion parses half-typed names: complete what it can
                raise
        self.params = [p for p in self.params if not getattr(p, "_edgeai_dynamic", False)] + extra
        return super().parse_args(ctx, args)


def _positionals(args: list[str], value_options: set[str]) -> list[str]:
    found, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--":
            continue
        elif arg.startswith("-"):
            name = arg.split("=", 1)[0]
            if "=" not in arg and (
                name in value_options
                or (
                    name not in value_options
                    and name.startswith("--")
                    and not name.startswith("--no-")
                    and name not in ("--help", "--json", "--force")
                )
            ):
                skip = True
        else:
            found.append(arg)
    return found


def _options(params: Any, prefix: str) -> list[click.Parameter]:
    func = params.click_options(prefix)(lambda **_: None)
    options: list[click.Parameter] = list(reversed(func.__click_params__))  # click stores them reversed
    for option in options:
        option._edgeai_dynamic = True  # type: ignore[attr-defined]
    return options


def register(cli: click.Group) -> None:
    from edgeai_core.cli import host_for
    from edgeai_core.cli.completion import complete_component

    @cli.command("run")
    @click.argument("config", type=click.Path(dir_okay=False, path_type=Path))
    @folder_option(
        "-o", "--output", required=True, help="Folder for results.json, the progress file and the artifacts."
    )
    @click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config value, e.g. --set runtime.threads=2 (repeatable).",
    )
    @click.option("--dry-run", is_flag=True, help="Validate and print the plan; build and run nothing.")
    @click.option("--json", "as_json", is_flag=True, help="Print the plan or the run summary as JSON.")
    @targets_option
    @click.option(
        "--force",
        is_flag=True,
        help="Write over the results an earlier run left in the output folder (refused without it), and run a "
        "model that does not fit the config's [target] profile anyway.",
    )
    @click.pass_context
    def run_cmd(
        ctx: click.Context,
        config: Path,
        output: Path,
        overrides: tuple[str, ...],
        dry_run: bool,
        as_json: bool,
        target_files: tuple[Path, ...],
        force: bool,
    ) -> None:
        """Run the pipeline in CONFIG (TOML, JSON or YAML) and write OUTPUT/results.json.

        Names, parameters and the format chain are checked before anything is built; converters are inserted
        where the chain needs them. Progress goes to stderr; nothing measured is lost if the run fails.
        With `[target] profile = "NAME"` the model is checked against that target profile (in planning when
        the pipeline runs a model file as it is, else once the final artifact is built): one that does not fit
        stops the run with exit code 2 unless --force.
        """
        from edgeai_core.config import load_config
        from edgeai_core.planner import plan_pipeline
        from edgeai_core.readiness import check_installed, check_plan_installed, plan_records

        host = host_for(ctx)
        plan = plan_pipeline(load_config(config, overrides), host, target_files=target_files)
        # every framework the plan needs, found without importing one: exit 2 before anything is built
        check_installed(plan_records(plan))
        if dry_run:
            check_plan_installed(plan)  # and the model's dimensions a static build can take
            from edgeai_core.inputcheck import check_plan_inputs

            inputs = check_plan_inputs(plan)  # names, count, shapes: exit 2 before anything heavy
            from edgeai_core.fitstage import planning_fit, refusal

            fit = planning_fit(plan, host)  # a model file against [target] profile, as the run checks it
            if as_json:
                echo_json(
                    {
                        **plan.to_json(),
                        **({"inputs": inputs} if inputs else {}),
                        **({"fit": fit.to_json()} if fit else {}),
                    }
                )
            else:
                click.echo(
                    "\n".join([*plan.describe(), *inputs, *([f"fit       {fit.verdict}"] if fit else [])])
                )
            if fit is not None and fit.fits is False and not force:
                raise refusal(fit)
            return
        claim_output(output, force=force, ctx=ctx)
        from edgeai_core.progress import StreamProgress
        from edgeai_core.runner import Runner

        # the runtime runs here, or on the target the config's [target] table names
        runner = Runner(
            plan, output, host=host, progress=StreamProgress(), command=["edgeai", *sys.argv[1:]], force=force
        )
        doc = runner.run()
        summary = _summary(doc, runner.output_dir / "results.json")
        if as_json:
            echo_json(summary)
            return
        line = f"results: {summary['results']}"
        if summary["latency_median_ns"] is not None:
            median, p99 = summary["latency_median_ns"] / 1e3, summary["latency_p99_ns"] / 1e3
            line += f"  median {median:.1f} us (p99 {p99:.1f} us)"
        if summary["accuracy"] is not None:
            line += f"  accuracy {summary['accuracy']:.4f}"
        if summary["fidelity_over_tolerance"]:
            line += f"  fidelity over tolerance: {', '.join(summary['fidelity_over_tolerance'])}"
        noisy = verdict_line(doc.get("validity"))
        if noisy is not None:  # first (on stderr, stdout keeps its one line): do not trust the numbers
            click.echo(noisy, err=True)
        click.echo(line)

    @cli.command("train", cls=ComponentCommand)
    @click.argument("model", shell_complete=complete_component("model"))
    @click.argument("dataset", shell_complete=complete_component("dataset"))
    @folder_option("-o", "--output", required=True, help="Folder for the checkpoint artifact and train.json.")
    @click.option(
        "--seed", type=int, default=0, show_default=True, help="Seed for splits and initialisation."
    )
    @force_option
    @click.option("--json", "as_json", is_flag=True, help="Print the training summary as JSON.")
    @click.pass_context
    def train_cmd(
        ctx: click.Context,
        model: str,
        dataset: str,
        output: Path,
        seed: int,
        force: bool,
        as_json: bool,
        **options: Any,
    ) -> None:
        """Train MODEL on DATASET and save the checkpoint artifact in OUTPUT.

        The model's parameters become options (`edgeai describe MODEL` lists them); the dataset's take a
        `--dataset-` prefix. `edgeai train numpy-mlp gaussian-blobs --epochs 20 -o runs/mlp`
        """
        from edgeai_core.artifacts import write_json_atomic
        from edgeai_core.components import Context
        from edgeai_core.contracts import check_artifact
        from edgeai_core.progress import StreamProgress

        host = host_for(ctx)
        model_record = host.get("model", model, where="MODEL")
        dataset_record = host.get("dataset", dataset, where="DATASET")
        if not getattr(model_record, "trainable", True):
            raise UsageError(
                f"MODEL: model '{model}' is not trainable; load it from a file in a pipeline config"
            )
        # validate both parameter sets before the dataset is prepared (which may download)
        dataset_params = dataset_record.params.validate(
            dataset_record.params.from_click(options, "dataset_"), "dataset"
        )
        model_params = model_record.params.validate(model_record.params.from_click(options), "model")
        claim_output(output, force=force, names=("train.json",), ctx=ctx)
        progress = StreamProgress()
        output.mkdir(parents=True, exist_ok=True)
        context = Context(workdir=output, seed=seed, progress=progress)
        data = dataset_record.create(dataset_params, where="dataset", context=context)
        progress.stage(f"preparing dataset {dataset}")
        data.prepare()
        progress.stage(f"training {model} on {dataset}")
        component = model_record.create(model_params, where="model", context=context)
        started = time.perf_counter()
        artifact = check_artifact(model_record, "Model.train", component.train(data))
        duration = time.perf_counter() - started
        progress.done(f"{artifact.path.name}, {artifact.size_bytes} bytes")
        summary = {
            "model": model,
            "dataset": dataset,
            "seed": seed,
            "duration_s": duration,
            "artifact": artifact.describe(),
            "metadata": dict(artifact.metadata),
            "params": {k: str(v) if isinstance(v, Path) else v for k, v in component.params.items()},
        }
        write_json_atomic(output / "train.json", summary)
        if as_json:
            echo_json(summary)
        else:
            click.echo(f"checkpoint: {artifact.path} ({artifact.format}); summary: {output / 'train.json'}")
