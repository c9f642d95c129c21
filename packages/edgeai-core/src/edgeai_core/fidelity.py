"""Fidelity at every step: how far each artifact's outputs are from the reference model's on the same inputs.

After every compile/convert step, and once more through the final runtime (on its target), the runner hands
the new artifact to :class:`FidelityCheck`, which runs it and the *reference* (the model's first artifact) on the
same seeded inputs and records, per step, in the ``fidelity`` section of ``results.json``:
``max_abs_diff``, ``mean_abs_diff``, ``relative_error`` (``||y - y_ref|| / ||y_ref||``), ``cosine_similarity``
(mean over samples of the per-sample cosine of the outputs) and, for classification, ``top1_agreement``.

The reference runs in a runtime chosen from the installed runtime records whose ``formats`` accept the
reference's format (the plan's runtime when it does, then a runtime whose first format it is, then by name);
when none loads the model's format, the first later artifact of the model's precision that one loads becomes the
reference, and the section says so. Inputs: ``samples`` seeded samples of the dataset's test split, else synthetic
from the IO spec.

One tolerance policy (:class:`TolerancePolicy`) judges every step:

- float32 steps: every element within ``atol + rtol * |reference|`` (``rtol`` 1e-3, ``atol`` 1e-4; outputs whose
  reference rows are probabilities, non-negative and summing to 1, use ``atol`` 1e-3, as softmax outputs of
  converted models differ by a few 1e-4 without anything being wrong);
- reduced-precision steps (int8, float16; the step says ``precision`` in its metadata, else it is read from the
  artifact's quantized tensors and the step's metadata, and it carries on to later steps): judged by agreement,
  ``cosine_similarity >= 0.99`` and, for classification, ``top1_agreement >= 0.9``; absolute differences are
  recorded but not judged.

A step over tolerance is a warning (logged, and recorded with the reasons); with ``fidelity.strict = true`` it
fails the run (:class:`FidelityError`, exit 1, partial results written).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from edgeai_core.document import COMPARISON_FIELDS, FidelityReference, FidelitySection, FidelityStep
from edgeai_core.errors import EdgeaiError
from edgeai_core.jsonvalues import attributes
from edgeai_core.lineage import steps_of

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
    from edgeai_core.components import Context, Dataset, Runtime
    from edgeai_core.plugins import PluginHost
    from edgeai_core.records import RuntimeRecord

log = logging.getLogger(__name__)

#: the least absolute tolerance for outputs that are probabilities (a converted softmax moves by a few 1e-4)
PROBABILITY_ATOL = 1e-3

#: precisions from widest to narrowest; a step's precision is the narrowest seen so far on the road
PRECISIONS = ("float32", "float16", "int8")
_INT8 = re.compile(r"(?<![a-z0-9])q?u?int8(?![0-9])", re.IGNORECASE)
_FLOAT16 = re.compile(r"(?<![a-z0-9])(float16|fp16|half)(?![0-9])", re.IGNORECASE)


class FidelityError(EdgeaiError):
    """A step's outputs are over the fidelity tolerance and ``fidelity.strict`` is set."""


@dataclass(frozen=True)
class TolerancePolicy:
    """How a step's differences are judged (see the module docstring for the numbers and why)."""

    rtol: float = 1e-3
    atol: float = 1e-4
    probability_atol: float = PROBABILITY_ATOL
    min_cosine: float = 0.99
    min_top1: float = 0.9

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TolerancePolicy:
        policy = cls(min_cosine=settings.get("min_cosine", 0.99), min_top1=settings.get("min_top1", 0.9))
        if settings.get("rtol") is not None:
            policy = replace(policy, rtol=float(settings["rtol"]))
        if settings.get("atol") is not None:  # the user's atol holds for probabilities too
            policy = replace(policy, atol=float(settings["atol"]), probability_atol=float(settings["atol"]))
        return policy

    def to_json(self) -> dict[str, Any]:
        return attributes(self, ("rtol", "atol", "probability_atol", "min_cosine", "min_top1"))

    def judge(self, precision: str, comparison: OutputComparison) -> tuple[str, list[str]]:
        """``(judged_by, violations)``: each violation names the metric, its value and the bound."""
        violations: list[str] = []
        if precision != "float32":
            if comparison.cosine_similarity < self.min_cosine:
                violations.append(
                    f"cosine similarity {comparison.cosine_similarity:.4f} < {self.min_cosine:g}"
                )
            top1 = comparison.top1_agreement
            if top1 is not None and top1 < self.min_top1:
                violations.append(f"top-1 agreement {top1:.3f} < {self.min_top1:g}")
            return "agreement", violations
        for out in comparison.outputs:
            atol = self.probability_atol if out.probabilities else self.atol
            if out.worst_excess > 0:
                violations.append(
                    f"max abs diff {out.max_abs_diff:.3g} on output '{out.name}' exceeds "
                    f"atol {atol:g} + rtol {self.rtol:g} x |reference| ({out.over} of {out.size} values)"
                )
        return "elementwise", violations


@dataclass(frozen=True)
class OutputDifference:
    """One output tensor against the reference's."""

    name: str
    size: int
    max_abs_diff: float
    mean_abs_diff: float
    relative_error: float
    cosine_similarity: float
    probabilities: bool
    #: values beyond the float tolerance, and the largest excess (0 when none)
    over: int = 0
    worst_excess: float = 0.0

    def to_json(self) -> dict[str, Any]:
        differences = COMPARISON_FIELDS[1:5]  # max_abs_diff ... cosine_similarity
        return attributes(self, ("name", *differences, "probabilities"))


@dataclass(frozen=True)
class OutputComparison:
    """Every output of a step against the reference, and the summary over them."""

    outputs: tuple[OutputDifference, ...]
    top1_agreement: float | None
    samples: int

    @property
    def max_abs_diff(self) -> float:
        return max((o.max_abs_diff for o in self.outputs), default=0.0)

    @property
    def mean_abs_diff(self) -> float:
        total = sum(o.size for o in self.outputs)
        return sum(o.mean_abs_diff * o.size for o in self.outputs) / total if total else 0.0

    @property
    def relative_error(self) -> float:
        return max((o.relative_error for o in self.outputs), default=0.0)

    @property
    def cosine_similarity(self) -> float:
        return min((o.cosine_similarity for o in self.outputs), default=1.0)


def is_probabilities(reference: np.ndarray) -> bool:
    """Rows of non-negative values summing to 1 along the last axis (a softmax output)."""
    if reference.ndim < 2 or reference.shape[-1] < 2 or reference.size == 0:
        return False
    if float(reference.min()) < -1e-6 or float(reference.max()) > 1 + 1e-6:
        return False
    return bool(np.allclose(reference.sum(axis=-1), 1.0, atol=1e-3))


def allowed_difference(reference: np.ndarray, tolerance: float) -> float:
    """The absolute difference a converter's own float check accepts on ``reference``: ``tolerance``, raised to
    :data:`PROBABILITY_ATOL` for probability outputs (the core's softmax-aware policy)."""
    return max(tolerance, PROBABILITY_ATOL) if is_probabilities(np.asarray(reference)) else tolerance


def compare_outputs(
    reference: Sequence[np.ndarray],
    candidate: Sequence[np.ndarray],
    names: Sequence[str],
    policy: TolerancePolicy,
    classification: bool,
) -> OutputComparison:
    """Differences of ``candidate`` to ``reference``, output by output (same order, same shapes)."""
    if len(reference) != len(candidate):
        raise EdgeaiError(f"gives {len(candidate)} output(s), the reference {len(reference)}")
    outputs = []
    for i, (ref, got) in enumerate(zip(reference, candidate, strict=True)):
        name = names[i] if i < len(names) else f"output{i}"
        r = np.asarray(ref, dtype=np.float64)
        c = np.asarray(got, dtype=np.float64)
        if r.shape != c.shape:
            if r.size != c.size:
                raise EdgeaiError(f"output '{name}' has shape {c.shape}, the reference's {r.shape}")
            c = c.reshape(r.shape)
        if not np.all(np.isfinite(c)):
            raise EdgeaiError(f"output '{name}' holds non-finite values (NaN or infinity)")
        diff = np.abs(c - r)
        probabilities = is_probabilities(r)
        atol = policy.probability_atol if probabilities else policy.atol
        excess = diff - (atol + policy.rtol * np.abs(r))
        n = r.shape[0] if r.ndim else 1
        rf, cf = r.reshape(n, -1), c.reshape(n, -1)
        norms = np.linalg.norm(rf, axis=1) * np.linalg.norm(cf, axis=1)
        dots = np.sum(rf * cf, axis=1)
        both_zero = (np.linalg.norm(rf, axis=1) == 0) & (np.linalg.norm(cf, axis=1) == 0)
        cosines = np.where(both_zero, 1.0, np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0))
        ref_norm = float(np.linalg.norm(r))
        err_norm = float(np.linalg.norm(c - r))
        outputs.append(
            OutputDifference(
                name=name,
                size=int(r.size),
                max_abs_diff=float(diff.max()) if diff.size else 0.0,
                mean_abs_diff=float(diff.mean()) if diff.size else 0.0,
                relative_error=err_norm / max(ref_norm, 1e-30),
                cosine_similarity=float(np.mean(cosines)) if cosines.size else 1.0,
                probabilities=probabilities,
                over=int(np.count_nonzero(excess > 0)),
                worst_excess=float(max(excess.max(), 0.0)) if excess.size else 0.0,
            )
        )
    top1 = None
    first_r, first_c = np.asarray(reference[0]), np.asarray(candidate[0])
    if classification and first_r.ndim == 2 and first_r.shape[1] > 1 and first_c.shape == first_r.shape:
        top1 = float(np.mean(first_r.argmax(axis=1) == first_c.argmax(axis=1)))
    samples = int(first_r.shape[0]) if first_r.ndim else 1
    return OutputComparison(tuple(outputs), top1, samples)


def step_precision(artifact: Artifact, own: Mapping[str, Any]) -> str:
    """The numeric precision a step gave its artifact: ``own["precision"]`` when the step says it, else
    int8 when a tensor is quantized or the step's own metadata mentions int8 types, float16 likewise."""
    declared = own.get("precision")
    if isinstance(declared, str) and declared in PRECISIONS:
        return declared
    if any(t.quantized for t in (*artifact.io.inputs, *artifact.io.outputs)):
        return "int8"
    texts = [str(v) for v in own.values() if isinstance(v, str)]
    if any(_INT8.search(t) for t in texts):
        return "int8"
    if any(_FLOAT16.search(t) for t in texts):
        return "float16"
    return "float32"


def narrower(a: str, b: str) -> str:
    return a if PRECISIONS.index(a) >= PRECISIONS.index(b) else b


def choose_runtime(
    host: PluginHost, fmt: str, preferred: RuntimeRecord | None = None
) -> RuntimeRecord | None:
    """An installed runtime that loads ``fmt``: ``preferred`` when it does, else one whose first format it is
    (its own framework), code-free before native code, then by name."""
    from edgeai_core.records import RuntimeRecord

    candidates = [r for r in host.records("runtime") if isinstance(r, RuntimeRecord) and fmt in r.formats]
    if preferred is not None and preferred in candidates:
        return preferred
    candidates.sort(key=lambda r: (r.formats[0] != fmt, r.native_code, r.name))
    return candidates[0] if candidates else None


def input_arrays(inputs: Any, io: IOSpec) -> list[np.ndarray]:
    """A split's inputs as one array per IO-spec input (a mapping by name, or one array)."""
    from edgeai_core.components import order_inputs

    if isinstance(inputs, Mapping):
        return [np.asarray(a) for a in order_inputs(inputs, io, "the fidelity inputs")]
    return [np.asarray(inputs)]


def synthetic(io: IOSpec, samples: int, seed: int) -> list[np.ndarray]:
    """Seeded inputs for ``io``, ``samples`` along the first axis (other dynamic dims cannot be guessed)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in io.inputs:
        shape = list(spec.concrete_shape(samples))
        shape[0] = samples
        if spec.dtype.startswith(("int", "uint")):
            arrays.append(rng.integers(0, 10, size=shape).astype(spec.dtype))
        elif spec.dtype == "bool":
            arrays.append(rng.integers(0, 2, size=shape).astype(bool))
        else:
            arrays.append(rng.standard_normal(shape).astype(spec.dtype))
    return arrays


def _fit(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """``x`` as ``spec`` takes it: as is, or channels moved (NHWC <-> NCHW) when only that fits."""
    want = spec.shape[1:]

    def fits(shape: tuple[int, ...]) -> bool:
        if len(want) != len(shape):
            return False
        return all(not isinstance(w, int) or w == g for w, g in zip(want, shape, strict=True))

    if fits(x.shape[1:]) or x.ndim != 4:
        return x
    for axes in ((0, 3, 1, 2), (0, 2, 3, 1)):
        moved = x.transpose(axes)
        if fits(moved.shape[1:]):
            return np.ascontiguousarray(moved)
    return x


def run_on(
    infer: Callable[[list[np.ndarray]], Any], io: IOSpec, inputs: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Outputs of ``infer`` for all ``inputs``, in batches of the model's static batch (the last one padded)."""
    arrays = [_fit(x, spec) for x, spec in zip(inputs, io.inputs, strict=False)] or list(inputs)
    total = int(arrays[0].shape[0])
    first = io.inputs[0].shape[0] if io.inputs and io.inputs[0].shape else None
    batch = first if isinstance(first, int) and first > 0 else total
    chunks: list[list[np.ndarray]] = []
    for start in range(0, total, batch):
        part = [x[start : start + batch] for x in arrays]
        n = int(part[0].shape[0])
        if n < batch:
            part = [np.concatenate([x, np.repeat(x[-1:], batch - n, axis=0)]) for x in part]
        outs = [np.asarray(o)[:n] for o in infer(part)]
        chunks.append(outs)
    return [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]


@dataclass
class _Reference:
    step: str
    kind: str
    artifact: Artifact
    runtime: str
    outputs: list[np.ndarray]
    note: str | None = None


@dataclass
class FidelityCheck:
    """Runs the fidelity stage of one run; :meth:`section` is what goes into ``results.json``."""

    host: PluginHost
    settings: Mapping[str, Any]
    context: Callable[[str], Context]
    seed: int = 0
    preferred: RuntimeRecord | None = None
    #: the plan's runtime parameters, used when that runtime runs a step
    preferred_params: Mapping[str, Any] = field(default_factory=dict)
    policy: TolerancePolicy = field(init=False)
    _inputs: list[np.ndarray] | None = field(default=None, init=False)
    _inputs_json: dict[str, Any] = field(default_factory=dict, init=False)
    _reference: _Reference | None = field(default=None, init=False)
    _classification: bool = field(default=False, init=False)
    _precision: str = field(default="float32", init=False)
    _model_precision: str = field(default="float32", init=False)
    _entries: list[FidelityStep] = field(default_factory=list, init=False)
    _pending: list[str] = field(default_factory=list, init=False)
    #: the model's artifact when its reference would run in the final runtime itself (see :meth:`start`)
    _deferred: tuple[str, Artifact] | None = field(default=None, init=False)
    #: float32 steps found within tolerance (name, artifact): per-layer numerics compare with the first one
    #: whose runtime exposes intermediates when the reference's runtime cannot (a torch model's ONNX export)
    float_steps: list[tuple[str, Artifact]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.policy = TolerancePolicy.from_settings(self.settings)

    @property
    def enabled(self) -> bool:
        return bool(self.settings.get("enabled", True))

    def section(self) -> FidelitySection:
        reference = None
        if self._reference is not None:
            ref = self._reference
            reference = FidelityReference(ref.step, ref.kind, ref.artifact.format, ref.runtime, ref.note)
        return FidelitySection(
            enabled=self.enabled,
            strict=bool(self.settings.get("strict", False)),
            policy=self.policy.to_json(),
            reference=reference,
            inputs=dict(self._inputs_json),
            steps=list(self._entries),
        )

    # -- the reference and the inputs ------------------------------------------------------------------

    def start(self, model: str, artifact: Artifact, dataset: Dataset | None, task: str | None) -> None:
        """The model's artifact is known: choose the inputs and run the reference (or remember why not)."""
        self._classification = (dataset.task if dataset is not None else task) == "classification"
        self._precision = self._model_precision = step_precision(artifact, {})
        self._inputs = self._choose_inputs(artifact.io, dataset)
        preferred = self.preferred
        if (
            self.settings.get("reuse_runtime", False)
            and self._inputs is not None
            and preferred is not None
            and choose_runtime(self.host, artifact.format) is preferred
        ):
            # fidelity.reuse_runtime: the reference would load this artifact in the final runtime on this machine:
            # wait. A later step runs it then; with no step, the final runtime's own outputs are the reference
            # (one load, not two).
            self._deferred = (model, artifact)
            return
        self._try_reference(model, "model", artifact)

    @property
    def deferred(self) -> bool:
        """The reference waits for the first step or the final runtime (:meth:`start`)."""
        return self._deferred is not None

    def _resolve(self) -> None:
        if self._deferred is not None:
            step, artifact = self._deferred
            self._deferred = None
            self._try_reference(step, "model", artifact)

    def _choose_inputs(self, io: IOSpec, dataset: Dataset | None) -> list[np.ndarray] | None:
        samples = int(self.settings.get("samples", 32))
        if dataset is not None:
            try:
                split = dataset.split("test")
                arrays = input_arrays(split.inputs, io)
                count = int(arrays[0].shape[0])
                index = np.sort(np.random.default_rng(self.seed).permutation(count)[: min(samples, count)])
                self._inputs_json = {
                    "source": "dataset",
                    "dataset": dataset.name,
                    "split": "test",
                    "samples": int(index.size),
                    "seed": self.seed,
                }
                return [np.asarray(x[index]) for x in arrays]
            except Exception as exc:  # no test split, or not one the model takes: synthetic below
                log.info("fidelity: synthetic inputs instead of the test split: %s", exc)
        try:
            arrays = synthetic(io, samples, self.seed)
        except Exception as exc:
            self._inputs_json = {"source": "none", "reason": f"no inputs for the model's IO spec: {exc}"}
            return None
        self._inputs_json = {"source": "synthetic", "samples": samples, "seed": self.seed}
        return arrays

    def _try_reference(self, step: str, kind: str, artifact: Artifact) -> None:
        if self._inputs is None:
            return
        if kind != "model" and self._precision != self._model_precision:
            # an int8 artifact compared with itself would look perfect: no reference rather than a wrong one
            self._pending.append(f"{step} ({artifact.format}, {self._precision}: not the model's precision)")
            return
        record = choose_runtime(self.host, artifact.format)
        if record is None:
            self._pending.append(f"{step} ({artifact.format})")
            return
        try:
            outputs = self._run_local(record, artifact, f"fidelity-reference-{record.name}")
        except Exception as exc:
            log.warning("fidelity: the reference %s does not run in %s: %s", step, record.name, exc)
            self._pending.append(f"{step} ({artifact.format}, {record.name} failed: {exc})")
            return
        note = None
        if self._pending:
            note = (
                "no installed runtime ran "
                + ", ".join(self._pending)
                + f"; {step}'s artifact is the reference"
            )
        self._reference = _Reference(step, kind, artifact, record.name, outputs, note)

    def _run_local(self, record: RuntimeRecord, artifact: Artifact, sub: str) -> list[np.ndarray]:
        assert self._inputs is not None
        params = self.preferred_params if record is self.preferred else {}
        runtime: Runtime = record.create(params, where="fidelity", context=self.context(sub))
        try:
            runtime.load(artifact)
            return run_on(runtime.infer, artifact.io, self._inputs)
        finally:
            runtime.close()

    # -- the steps -------------------------------------------------------------------------------------

    def check_step(self, name: str, kind: str, source: Artifact, artifact: Artifact) -> FidelityStep:
        """A compile/convert step made ``artifact``: run it locally and compare it with the reference."""
        self._resolve()
        own = steps_of(artifact.metadata).get(name) or {}
        self._precision = narrower(self._precision, step_precision(artifact, own))
        if self._reference is None:
            self._try_reference(name, kind, artifact)
            if self._reference is not None:
                return self._add(name, kind, artifact.format, self._reference.runtime, "reference", None)
            return self._add(name, kind, artifact.format, None, "skipped", self._no_reference())
        record = choose_runtime(self.host, artifact.format, self.preferred)
        if record is None:
            return self._add(
                name, kind, artifact.format, None, "skipped", f"no installed runtime loads {artifact.format}"
            )
        try:
            outputs = self._run_local(record, artifact, f"fidelity-{name}")
        except Exception as exc:
            return self._failed(name, kind, artifact.format, record.name, exc)
        entry = self._judge(name, kind, artifact, record.name, outputs)
        if entry.status == "ok" and entry.precision == "float32":  # a float stand-in for layer comparisons
            self.float_steps.append((name, artifact))
        if self.settings.get("layers") and entry.judged_by is not None:  # per-layer numerics
            from edgeai_core.layerwise import step_layers

            entry = replace(entry, layers=step_layers(self, record, artifact, own))
            self._entries[-1] = entry
        return entry

    def check_runtime(
        self, name: str, artifact: Artifact, infer: Callable[[list[np.ndarray]], Any]
    ) -> FidelityStep:
        """The final runtime (on its target) runs ``artifact``: compare what it gives with the reference."""
        if self._deferred is not None and self._deferred[1] is artifact and self.preferred is not None:
            step, _ = self._deferred
            self._deferred = None
            assert self._inputs is not None
            try:
                outputs = run_on(infer, artifact.io, self._inputs)
            except Exception as exc:
                return self._failed(name, "runtime", artifact.format, name, exc)
            self._reference = _Reference(step, "model", artifact, name, outputs, None)
            return self._add(
                name,
                "runtime",
                artifact.format,
                name,
                "reference",
                f"the final runtime runs {step}'s own artifact on this machine: its outputs are the reference",
            )
        self._resolve()
        if self._reference is None:
            return self._add(name, "runtime", artifact.format, name, "skipped", self._no_reference())
        assert self._inputs is not None
        try:
            outputs = run_on(infer, artifact.io, self._inputs)
        except Exception as exc:
            return self._failed(name, "runtime", artifact.format, name, exc)
        return self._judge(name, "runtime", artifact, name, outputs)

    def _no_reference(self) -> str:
        if self._inputs is None:
            return str(self._inputs_json.get("reason", "no inputs"))
        return "no reference yet: no installed runtime ran " + ", ".join(self._pending)

    def _failed(self, name: str, kind: str, fmt: str, runtime: str, exc: Exception) -> FidelityStep:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        # recorded with its reason; not a warning: a cross-compiled library, say, cannot run on this machine
        log.info("fidelity: %s %s could not be compared in %s: %s", kind, name, runtime, reason)
        return self._add(name, kind, fmt, runtime, "failed", reason)

    def _judge(
        self, name: str, kind: str, artifact: Artifact, runtime: str, outputs: list[np.ndarray]
    ) -> FidelityStep:
        assert self._reference is not None
        names = [t.name for t in self._reference.artifact.io.outputs]
        try:
            comparison = compare_outputs(
                self._reference.outputs, outputs, names, self.policy, self._classification
            )
        except EdgeaiError as exc:
            return self._failed(name, kind, artifact.format, runtime, exc)
        judged_by, violations = self.policy.judge(self._precision, comparison)
        entry = FidelityStep(
            step=name,
            kind=kind,
            format=artifact.format,
            runtime=runtime,
            status="ok" if not violations else "over_tolerance",
            precision=self._precision,
            **attributes(comparison, COMPARISON_FIELDS),
            judged_by=judged_by,
            violations=tuple(violations),
            outputs=tuple(o.to_json() for o in comparison.outputs),
        )
        self._entries.append(entry)
        if violations:
            message = over_tolerance_message(entry)
            if self.settings.get("strict", False):
                raise FidelityError(f"{message} (fidelity.strict = true)")
            log.warning("fidelity: %s (a warning; fidelity.strict = true fails the run)", message)
        return entry

    def _add(
        self, name: str, kind: str, fmt: str, runtime: str | None, status: str, reason: str | None
    ) -> FidelityStep:
        entry = FidelityStep(
            step=name,
            kind=kind,
            format=fmt,
            runtime=runtime,
            status=status,
            precision=self._precision,
            reason=reason,
        )
        self._entries.append(entry)
        return entry


def over_tolerance_message(entry: FidelityStep) -> str:
    """One line naming the step, its precision and each metric over its bound."""
    return (
        f"{entry.kind} {entry.step} ({entry.precision}, in {entry.runtime}) is over tolerance against the "
        f"reference: {'; '.join(entry.violations)}"
    )


def fidelity_line(entry: FidelityStep) -> str:
    """A short progress line for one compared step."""
    if entry.judged_by is None:
        return f"{entry.status}" + (f": {entry.reason}" if entry.reason else "")
    parts = [f"max abs diff {entry.max_abs_diff:.3g}", f"cosine {entry.cosine_similarity:.5f}"]
    if entry.top1_agreement is not None:
        parts.append(f"top-1 agreement {entry.top1_agreement:.3f}")
    verdict = "within tolerance" if entry.within_tolerance else "OVER TOLERANCE"
    return f"{entry.precision}: {', '.join(parts)}; {verdict}"
