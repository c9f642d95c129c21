"""Guidance where numbers surprise: a reduced-precision or untuned build much slower than the float model.

An int8 model that runs three times slower than its float source, or a compiled library slower than ONNX Runtime,
is usually not a measurement error but a missing kernel or an untuned schedule. :func:`slow_build_notes` reads
the measurement documents of one comparison (``edgeai demo``, ``edgeai report A B``) and returns one line per
such run, naming what to try. Everything is derived from the documents: a run's precision from its ``fidelity``
section (else its steps' metadata), "untuned" from a compiler step that records ``tuning`` as null, "float" runs
from the rest; runs are compared only within one model on one dataset.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: how many times slower than the fastest float run a build must be to earn a note
SLOWER_FACTOR = 2.0

_INT8 = re.compile(r"(?<![a-z0-9])q?u?int8(?![0-9])", re.IGNORECASE)
_FLOAT16 = re.compile(r"(?<![a-z0-9])(float16|fp16)(?![0-9])", re.IGNORECASE)


@dataclass(frozen=True)
class _Facts:
    name: str
    family: str
    model: str
    runtime: str
    median_ns: float
    precision: str
    #: compiler steps that changed the format, and those of them that record ``tuning = null``
    compiled: tuple[str, ...]
    untuned: tuple[str, ...]
    reducing: tuple[str, ...]
    #: no step over the fidelity tolerance: still the source model (a pruned, fine-tuned one is another model)
    faithful: bool = True


def _precision(doc: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """The narrowest precision on the run's road and the steps that reduced it."""
    fidelity = doc.get("fidelity")
    if isinstance(fidelity, Mapping) and fidelity.get("steps"):
        entries = [e for e in fidelity["steps"] if isinstance(e, Mapping)]
        reducing: list[str] = []
        previous = "float32"
        for entry in entries:
            precision = str(entry.get("precision") or "float32")
            if precision != previous and entry.get("kind") != "runtime":
                reducing.append(str(entry.get("step")))
            previous = precision
        return (str(entries[-1].get("precision") or "float32") if entries else "float32"), tuple(reducing)
    found = "float32"
    reducing = []
    for step in doc.get("steps") or []:
        if not isinstance(step, Mapping) or step.get("kind") != "compiler":
            continue
        texts = [str(v) for v in (step.get("metadata") or {}).values() if isinstance(v, str)]
        if any(_INT8.search(t) for t in texts):
            found = "int8"
            reducing.append(str(step.get("name")))
        elif any(_FLOAT16.search(t) for t in texts) and found == "float32":
            found = "float16"
            reducing.append(str(step.get("name")))
    return found, tuple(reducing)


def _facts(name: str, doc: Mapping[str, Any]) -> _Facts | None:
    stats = (doc.get("latency") or {}).get("stats") if isinstance(doc.get("latency"), Mapping) else None
    if doc.get("status") != "complete" or not isinstance(stats, Mapping) or not stats.get("median"):
        return None
    plan = doc.get("plan") if isinstance(doc.get("plan"), Mapping) else {}
    assert isinstance(plan, Mapping)
    dataset = plan.get("dataset") if isinstance(plan.get("dataset"), Mapping) else {}
    model = plan.get("model") if isinstance(plan.get("model"), Mapping) else {}
    runtime = plan.get("runtime") if isinstance(plan.get("runtime"), Mapping) else {}
    assert isinstance(dataset, Mapping) and isinstance(model, Mapping) and isinstance(runtime, Mapping)
    family = json.dumps(
        [dataset.get("name"), dataset.get("params"), model.get("name")], sort_keys=True, default=str
    )
    compiled, untuned = [], []
    for step in doc.get("steps") or []:
        if not isinstance(step, Mapping) or step.get("kind") != "compiler":
            continue
        if step.get("input_format") and step.get("input_format") != step.get("output_format"):
            compiled.append(str(step.get("name")))
            metadata = step.get("metadata") or {}
            if "tuning" in metadata and metadata["tuning"] is None:
                untuned.append(str(step.get("name")))
    precision, reducing = _precision(doc)
    fidelity = doc.get("fidelity") if isinstance(doc.get("fidelity"), Mapping) else {}
    assert isinstance(fidelity, Mapping)
    faithful = not any(
        isinstance(e, Mapping) and e.get("status") == "over_tolerance" for e in fidelity.get("steps") or []
    )
    return _Facts(
        name=name,
        family=family,
        model=str(model.get("name") or "?"),
        runtime=str(runtime.get("name") or "?"),
        median_ns=float(stats["median"]),
        precision=precision,
        compiled=tuple(compiled),
        untuned=tuple(untuned),
        reducing=reducing,
        faithful=faithful,
    )


def _advice(run: _Facts, fastest: _Facts) -> str:
    tips: list[str] = []
    if run.untuned:
        step = run.untuned[-1]
        tips.append(f"tune the {step} build (its tuning parameters: `edgeai describe {step}`)")
    if run.precision == "int8":
        step = run.reducing[-1] if run.reducing else "the quantizer"
        tips.append(
            f"try other {step} settings (per-channel, static vs dynamic: `edgeai describe {step}`); "
            f"{run.runtime} may lack fast int8 kernels for this CPU"
        )
    elif run.precision == "float16":
        tips.append("keep float32 here: most CPUs emulate float16")
    if run.runtime != fastest.runtime:
        tips.append(f"or run it in {fastest.runtime}")
    else:
        tips.append("or try a different runtime")
    return "; ".join(tips)


def slow_build_notes(
    documents: Sequence[tuple[str, Mapping[str, Any]]], factor: float = SLOWER_FACTOR
) -> list[str]:
    """One line per untuned or reduced-precision run at least ``factor`` times slower (median latency) than
    the fastest float32 run of the same model on the same dataset; ``documents`` are (run name, results.json).
    A run with a step over the fidelity tolerance (a pruned and fine-tuned model) is not a baseline: it is no
    longer the same model."""
    from edgeai_core.emulation import is_emulated

    # emulated time is not comparable with native time: such runs neither get nor set a baseline
    measured = [(name, doc) for name, doc in documents if not is_emulated(doc)]
    facts = [f for f in (_facts(name, doc) for name, doc in measured) if f is not None]
    notes = []
    for run in facts:
        if run.precision == "float32" and not run.untuned:
            continue
        floats = [
            f
            for f in facts
            if f.family == run.family and f.precision == "float32" and f.faithful and f is not run
        ]
        if not floats:
            continue
        fastest = min(floats, key=lambda f: f.median_ns)
        ratio = run.median_ns / fastest.median_ns
        if ratio < factor:
            continue
        what = ", ".join(
            [*([run.precision] if run.precision != "float32" else []), *(["untuned"] if run.untuned else [])]
        )
        notes.append(
            f"{run.name} ({what}, in {run.runtime}) is {ratio:.1f}x slower than {fastest.name} "
            f"(float32, in {fastest.runtime}), the fastest float run of {run.model}: {_advice(run, fastest)}"
        )
    return notes
