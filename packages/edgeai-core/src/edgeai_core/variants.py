"""Run a set of pipeline variants that share their dataset and model: ``edgeai demo`` and ``edgeai matrix``.

Each variant is an ordinary pipeline config. They are planned first (a variant the installed plugins cannot run
is skipped with the planner's reason, before anything heavy happens); each distinct dataset+model+seed is then
trained once and its checkpoint handed to every variant as ``model.checkpoint``; finally every variant runs
through the same runner as ``edgeai run`` and writes ``OUTPUT/<variant>/results.json``. A failed variant does
not stop the others. The same seed and training give the same checkpoint, so a variant's accuracy is the same
whichever command ran it.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeai_core.errors import EdgeaiError

log = logging.getLogger(__name__)

#: Starts a remote target for a ``serve`` variant: ``(runtime name, folder) -> (handle, [target] table)``.
StartTarget = Callable[[str, Path], tuple[Any, dict[str, Any]]]


@dataclass
class Variant:
    """One pipeline to run: ``config`` is a pipeline config naming dataset, model, steps and runtime.

    ``serve``: run it through a local ``edgeai serve`` target (see :class:`edgeai_core.records.DemoVariant`).
    """

    name: str
    summary: str
    config: Mapping[str, Any]
    serve: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    #: why it cannot run now (skipped with this reason)
    unavailable: str = ""


def train_key(config: Mapping[str, Any]) -> str:
    """What makes two variants share a trained model: dataset and model tables and the seed."""
    model = {k: v for k, v in dict(config["model"]).items() if k != "checkpoint"}
    return json.dumps(
        {"dataset": config["dataset"], "model": model, "seed": config.get("seed", 0)},
        sort_keys=True,
        default=str,
    )


def result_row(name: str, status: str, doc: Mapping[str, Any] | None, note: str = "") -> dict[str, Any]:
    """One summary row from a variant's results document (None where it was not measured)."""
    row: dict[str, Any] = {
        "variant": name,
        "status": status,
        "note": note,
        "accuracy": None,
        "median_us": None,
        "p99_us": None,
        "size_bytes": None,
        "results": None,
        "validity": None,
    }
    if doc:
        stats = (doc.get("latency") or {}).get("stats") or {}
        quality = doc.get("quality") or {}
        row["accuracy"] = quality.get("accuracy")
        row["validity"] = (doc.get("validity") or {}).get("verdict")
        row["median_us"] = stats["median"] / 1e3 if "median" in stats else None
        row["p99_us"] = stats["p99"] / 1e3 if "p99" in stats else None
        loads = [s for s in doc.get("steps", []) if s.get("kind") == "runtime-load" and s.get("artifact")]
        row["size_bytes"] = loads[-1]["artifact"]["size_bytes"] if loads else None
        target = ((doc.get("latency") or {}).get("target") or {}).get("stats") or {}
        if "median" in target:  # remote variants: the round trip above, the target's own time here
            row["target_median_us"] = target["median"] / 1e3
            row["note"] = row["note"] or f"round trip to a target; on it {target['median'] / 1e3:.1f} us"
        from edgeai_core.emulation import is_emulated

        if is_emulated(doc):
            row["emulated"] = True
            on_target = f"; on the target {target['median'] / 1e3:.1f} us" if "median" in target else ""
            row["note"] = note or f"emulated time, not device time{on_target}"
    return row


def plan_variants(
    host: Any,
    variants: Sequence[Variant],
    *,
    overrides: Sequence[str] = (),
    benchmark: Mapping[str, Any] | None = None,
    progress: Any = None,
) -> tuple[list[tuple[Variant, dict[str, Any]]], list[dict[str, Any]]]:
    """Plan every variant: ``(runnable variants with their resolved raw configs, rows of the skipped ones)``."""
    from edgeai_core.config import apply_overrides, parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.readiness import check_installed, plan_records

    planned: list[tuple[Variant, dict[str, Any]]] = []
    skipped: list[dict[str, Any]] = []
    for variant in variants:
        raw = copy.deepcopy(dict(variant.config))
        raw.setdefault("name", variant.name)
        if benchmark is not None:
            raw.setdefault("benchmark", dict(benchmark))
        raw = apply_overrides(raw, overrides)
        if variant.unavailable:
            skipped.append(result_row(variant.name, "skipped", None, variant.unavailable))
            if progress is not None:
                progress.stage(f"{variant.name}: skipped ({variant.unavailable})")
            continue
        try:
            # a variant whose frameworks are missing is refused here, before anything is built
            check_installed(plan_records(plan_pipeline(parse_config(raw), host)))
        except EdgeaiError as exc:
            skipped.append(result_row(variant.name, "skipped", None, str(exc)))
            if progress is not None:
                progress.stage(f"{variant.name}: skipped ({exc})")
            continue
        planned.append((variant, raw))
    return planned, skipped


def train_model(host: Any, raw: Mapping[str, Any], workdir: Path, progress: Any) -> Path:
    """Train the model of ``raw`` on its dataset; return the checkpoint path."""
    from edgeai_core.components import Context

    workdir.mkdir(parents=True, exist_ok=True)
    context = Context(workdir=workdir, seed=raw.get("seed", 0), progress=progress)
    dataset_cfg = {k: v for k, v in raw["dataset"].items() if k != "name"}
    model_cfg = {k: v for k, v in raw["model"].items() if k not in ("name", "checkpoint")}
    dataset = host.get("dataset", raw["dataset"]["name"]).create(
        dataset_cfg, where="dataset", context=context
    )
    model = host.get("model", raw["model"]["name"]).create(model_cfg, where="model", context=context)
    progress.stage(
        f"training {raw['model']['name']} on {raw['dataset']['name']} (once, shared by its variants)"
    )
    dataset.prepare()
    started = time.perf_counter()
    from edgeai_core.contracts import check_artifact

    artifact = check_artifact(model.record, "Model.train", model.train(dataset))
    progress.done(f"{artifact.path.name}, {artifact.size_bytes} bytes, {time.perf_counter() - started:.1f} s")
    return Path(artifact.path)


def train_shared(
    host: Any, planned: Sequence[tuple[Variant, Mapping[str, Any]]], folder: Path, progress: Any
) -> dict[str, Path]:
    """Train each distinct dataset+model+seed of ``planned`` once: ``{train_key: checkpoint}``.

    A variant whose config already names ``model.checkpoint`` is left alone.
    """
    checkpoints: dict[str, Path] = {}
    for _variant, raw in planned:
        if raw["model"].get("checkpoint"):
            continue
        key = train_key(raw)
        if key in checkpoints:
            continue
        checkpoints[key] = train_model(
            host, raw, folder / f"{len(checkpoints):02d}-{raw['model']['name']}", progress
        )
    return checkpoints


def runtime_name(raw: Mapping[str, Any]) -> str:
    runtime = raw["runtime"]
    return str(runtime if isinstance(runtime, str) else runtime["name"])


def run_variant(
    host: Any,
    variant: Variant,
    raw: dict[str, Any],
    folder: Path,
    *,
    progress: Any,
    command: Sequence[str] | None = None,
    start_target: StartTarget | None = None,
    stop_target: Callable[[Any], None] | None = None,
) -> dict[str, Any]:
    """Run one planned variant into ``folder``; return its summary row (status ``complete`` or ``failed``)."""
    from edgeai_core.config import parse_config
    from edgeai_core.planner import plan_pipeline
    from edgeai_core.runner import Runner

    server = None
    doc: dict[str, Any] | None
    try:
        if variant.serve:  # a local `edgeai serve` plays the remote target
            if start_target is None:
                raise EdgeaiError(
                    f"variant {variant.name} runs on a served target, but no target starter was given"
                )
            server, raw["target"] = start_target(runtime_name(raw), folder)
        plan = plan_pipeline(parse_config(raw), host)
        runner = Runner(plan, folder, host=host, progress=progress, command=list(command or []))
        doc = runner.run()
        row = result_row(variant.name, "complete", doc)
    except EdgeaiError as exc:
        results = folder / "results.json"
        doc = json.loads(results.read_text(encoding="utf-8")) if results.exists() else None
        row = result_row(variant.name, "failed", doc, str(exc))
    finally:
        if server is not None and stop_target is not None:
            stop_target(server)
    row["results"] = str(folder / "results.json")
    return row


def run_planned(
    host: Any,
    planned: Sequence[tuple[Variant, dict[str, Any]]],
    output: Path,
    checkpoints: Mapping[str, Path],
    *,
    progress: Any,
    command: Sequence[str] | None = None,
    start_target: StartTarget | None = None,
    stop_target: Callable[[Any], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every planned variant with its shared checkpoint into ``output/<variant>``; return their rows."""
    rows = []
    for variant, raw in planned:
        if not raw["model"].get("checkpoint") and train_key(raw) in checkpoints:  # load-only models: none
            raw["model"] = {**raw["model"], "checkpoint": str(checkpoints[train_key(raw)])}
        progress.stage(f"variant {variant.name}: {variant.summary}")
        rows.append(
            run_variant(
                host,
                variant,
                raw,
                output / variant.name,
                progress=progress,
                command=command,
                start_target=start_target,
                stop_target=stop_target,
            )
        )
    return rows
