"""The model's inputs against the dataset's, before anything heavy runs (``edgeai run --dry-run``).

Where both sides can say cheaply (a model loaded from a file, whose IO spec comes from the file, and a dataset
with ``input_shapes(io)``: ``synthetic``, ``files``), the input names and count, the per-sample shapes and the
dynamic dimensions are checked: a mismatch is a :class:`UsageError` (exit 2, one line naming the input).
A model file declaring how its detection or segmentation outputs read (``postprocess``) is checked against
its outputs the same way (:func:`check_declared_outputs`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from edgeai_core.components import Context
from edgeai_core.errors import DatasetError, UsageError
from edgeai_core.records import ModelRecord

if TYPE_CHECKING:
    from edgeai_core.artifacts import IOSpec
    from edgeai_core.planner import Plan


def _shown(shape: tuple[object, ...]) -> str:
    return "(" + ", ".join(str(d) if isinstance(d, int) and d >= 0 else "?" for d in shape) + ")"


def check_declared_outputs(plan: Plan) -> None:
    """A model file on a detection or segmentation dataset: its ``postprocess`` against the file's outputs.

    The file model's ``prepare`` (given the unprepared dataset, for its task) raises the one-line
    :class:`~edgeai_core.tasks.PostprocessError` (exit 2) that the run would raise at its first stage.
    """
    from edgeai_core.targets import build

    assert plan.dataset is not None
    task = getattr(plan.dataset.record, "task", "any")
    if task not in ("detection", "segmentation") or "postprocess" not in plan.model.params:
        return
    with tempfile.TemporaryDirectory(prefix="edgeai-dry-run-") as tmp:
        context = Context(workdir=Path(tmp), seed=plan.config.seed)
        build(plan.model, context).prepare(build(plan.dataset, context))


def check_plan_inputs(plan: Plan) -> list[str]:
    """Lines describing each model input and what the dataset feeds it; [] when nothing could be checked."""
    from edgeai_core.targets import build

    record = plan.model.record
    if plan.dataset is None or not isinstance(record, ModelRecord) or not record.loads:
        return []
    if plan.model.params.get("path") is None:
        return []
    factory = plan.dataset.record.load()
    if not hasattr(factory, "input_shapes"):
        check_declared_outputs(plan)
        return []
    with tempfile.TemporaryDirectory(prefix="edgeai-dry-run-") as tmp:
        context = Context(workdir=Path(tmp), seed=plan.config.seed)
        model = build(plan.model, context)
        io: IOSpec = model.prepare(None).io
        dataset = build(plan.dataset, context)
        try:
            shapes = dataset.input_shapes(io)
        except DatasetError as exc:  # a dataset that cannot fill the model's inputs is a usage error here
            raise UsageError(str(exc)) from None
    lines = []
    for spec in io.inputs:
        dynamic = [i for i, d in enumerate(spec.shape) if not (isinstance(d, int) and d >= 0)]
        fed = shapes.get(spec.name)
        line = f"input {spec.name} {_shown(tuple(spec.shape))} {spec.dtype}"
        if fed is not None:
            line += f" <- dataset {plan.dataset.record.name} samples of shape {_shown(tuple(fed))}"
        if dynamic:
            line += f" (dynamic dims {', '.join(map(str, dynamic))})"
        lines.append(line)
    return lines
