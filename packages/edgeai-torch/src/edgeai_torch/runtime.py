"""The ``torch`` runtime: runs ``torch`` checkpoints eagerly or as traced, frozen TorchScript graphs.

``bind`` turns the numpy inputs into tensors (sharing memory, no copy for contiguous float32) and, in traced
mode, traces for that input shape, all before returning; the returned callable does only the forward pass
under :func:`torch.inference_mode`. A traced graph is specific to the shapes it was traced with, so traced
graphs are cached per input shape (the benchmark's batch and the evaluation's batches each get one).
"""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from edgeai_core.api import (
    Artifact,
    IOSpec,
    ModelProfile,
    ProfileUnavailable,
    Runtime,
    RuntimeFailure,
    mapped,
)
from edgeai_torch import FORMAT
from edgeai_torch.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

#: Traced graphs kept per runtime (one per input shape seen); the oldest is dropped beyond this.
MAX_TRACED_SHAPES = 8
#: Calls made right after tracing: TorchScript's profiling executor optimizes the graph on its first runs,
#: which would otherwise land in the first timed calls.
TRACE_WARMUP_CALLS = 3


class TorchRuntime(Runtime):
    """Eager or traced (``torch.jit.trace`` + ``torch.jit.freeze``) inference on the CPU."""

    _io: IOSpec
    _module: torch.nn.Module

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._traced: OrderedDict[tuple[int, ...], Callable[[torch.Tensor], torch.Tensor]] = OrderedDict()

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}

    @property
    def io(self) -> IOSpec:
        return self._io

    def load(self, artifact: Artifact) -> None:
        if artifact.format != FORMAT:
            raise RuntimeFailure(f"runtime torch loads '{FORMAT}' artifacts, not '{artifact.format}'")
        torch.set_num_threads(self.params["threads"])
        checkpoint = load_checkpoint(artifact.path)
        module = checkpoint.module.eval()
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        self._module = module
        self._io = artifact.io
        self._traced.clear()
        log.info(
            "loaded %s (%s) with %d thread(s), mode %s",
            artifact.path.name,
            checkpoint.architecture,
            self.params["threads"],
            self.params["mode"],
        )

    def _tensor(self, inputs: Sequence[np.ndarray]) -> torch.Tensor:
        if not hasattr(self, "_module"):
            raise RuntimeFailure("runtime torch: call load() before inference")
        if len(inputs) != 1:
            raise RuntimeFailure(f"the model takes 1 input ('input'), got {len(inputs)}")
        array = np.ascontiguousarray(inputs[0], dtype=np.float32)
        want = self._io.inputs[0].shape
        if array.ndim != len(want) or any(
            isinstance(w, int) and w != g for w, g in zip(want[1:], array.shape[1:], strict=True)
        ):
            shown = tuple(w if isinstance(w, int) else "N" for w in want)
            raise RuntimeFailure(f"input of shape {array.shape} does not fit the model's input {shown}")
        if torch.get_num_threads() != self.params["threads"]:  # another component changed the global
            torch.set_num_threads(self.params["threads"])
        return torch.from_numpy(array)

    def _function(self, x: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
        """The callable that runs the forward pass for inputs shaped like ``x``."""
        if self.params["mode"] == "eager":
            return self._module
        shape = tuple(x.shape)
        traced = self._traced.get(shape)
        if traced is None:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # TorchScript's deprecation notice; traced mode is opt-in
                    with torch.no_grad():
                        graph = torch.jit.freeze(torch.jit.trace(self._module, x).eval())
                    with torch.inference_mode():
                        for _ in range(TRACE_WARMUP_CALLS):
                            graph(x)
            except Exception as exc:
                raise RuntimeFailure(
                    f"runtime torch: tracing for input shape {shape} failed ({exc}); use mode eager"
                ) from exc
            traced = graph
            self._traced[shape] = traced
            if len(self._traced) > MAX_TRACED_SHAPES:
                self._traced.popitem(last=False)
        else:
            self._traced.move_to_end(shape)
        return traced

    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        x = self._tensor(inputs)
        function = self._function(x)
        try:
            with torch.inference_mode():
                out = function(x)
        except Exception as exc:
            raise RuntimeFailure(f"runtime torch: inference on input {tuple(x.shape)} failed: {exc}") from exc
        outs = out if isinstance(out, (tuple, list)) else (out,)  # the detector returns three maps
        return [np.array(o.numpy(), dtype=np.float32, copy=True) for o in outs]

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        x = self._tensor(inputs)
        function = self._function(x)
        mode = torch.inference_mode()  # made once: entering it is all that stays in the timed call

        def forward() -> object:
            with mode:
                return function(x)

        return forward

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
        """Per leaf module, by torch.profiler (:func:`profile_modules`)."""
        return profile_modules(self, inputs, runs)

    def close(self) -> None:
        self._traced.clear()
        if hasattr(self, "_module"):
            del self._module


def profile_modules(runtime: TorchRuntime, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile:
    """torch.profiler over ``runs`` forward passes in eager mode, one ``record_function`` range per leaf module
    (opened and closed by forward hooks), so each module's CPU time comes from the profiler's own events.

    Modules are named by their path in the model (``features.0.conv``); their ONNX nodes are not known here
    (the export names them, after this runtime's artifact was made), so the mapping is ``unknown``."""
    x = runtime._tensor(inputs)
    module = runtime._module
    leaves = [(name, m) for name, m in module.named_modules() if name and not any(True for _ in m.children())]
    if not leaves:
        raise ProfileUnavailable("the model has no submodules to profile")
    prefix = "edgeai.module:"
    open_ranges: list[Any] = []
    handles = []
    for name, leaf in leaves:

        def before(_m: Any, _args: Any, label: str = prefix + name) -> None:
            scope = torch.profiler.record_function(label)
            scope.__enter__()
            open_ranges.append(scope)

        def after(_m: Any, _args: Any, _out: Any) -> None:
            if open_ranges:
                open_ranges.pop().__exit__(None, None, None)

        handles.append(leaf.register_forward_pre_hook(before))
        handles.append(leaf.register_forward_hook(after))
    kinds = {prefix + name: type(leaf).__name__ for name, leaf in leaves}
    try:
        with torch.inference_mode():
            module(x)  # warm-up outside the profile
            # the profiler's first use in a process is slow (its set-up lands in the first ops), and so is its
            # first step: one throw-away profile, then one warm-up step
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]):
                module(x)
            schedule = torch.profiler.schedule(wait=0, warmup=1, active=runs, repeat=1)
            activities = [torch.profiler.ProfilerActivity.CPU]
            with torch.profiler.profile(activities=activities, schedule=schedule) as prof:
                for _ in range(runs + 1):
                    with torch.profiler.record_function("edgeai.run"):
                        module(x)
                    prof.step()
    finally:
        for handle in handles:
            handle.remove()
    # per run (the "edgeai.run" ranges): a run stalled by another process would dominate every mean
    events = list(prof.events())
    windows = sorted((e.time_range.start, e.time_range.end) for e in events if e.name == "edgeai.run")
    if not windows:
        raise ProfileUnavailable("torch.profiler recorded no run")
    lengths = [end - start for start, end in windows]
    limit = STALL_FACTOR * sorted(lengths)[len(lengths) // 2]
    calm = [w for w, length in zip(windows, lengths, strict=True) if length <= limit]
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    for event in events:
        if event.name not in kinds:
            continue
        start = event.time_range.start
        if not any(begin <= start <= end for begin, end in calm):
            continue
        totals[event.name] = totals.get(event.name, 0.0) + float(event.time_range.end - start)
        counts[event.name] = counts.get(event.name, 0) + 1
    whole = float(sum(end - start for start, end in calm))
    dropped = len(windows) - len(calm)
    runs = len(calm)
    layers = tuple(
        mapped(
            key.removeprefix(prefix),
            kinds[key],
            total / runs,
            exported_names(key.removeprefix(prefix), kinds[key]),
            counts[key] / runs,
        )
        for key, total in totals.items()
    )
    notes: tuple[str, ...] = (
        "leaf modules timed by torch.profiler (eager mode); ONNX nodes are the names torch-to-onnx's "
        "TorchScript exporter gives a module's operator (/features/features.0/Conv), not read from a file",
    )
    if dropped:
        notes += (f"{dropped} of {len(windows)} runs left out: over {STALL_FACTOR}x the median run",)
    return ModelProfile("torch.profiler", layers, runs, whole / runs if whole else None, notes)


#: a profiled run this many times longer than the median run was stalled by something else: left out
STALL_FACTOR = 3
#: module class -> the ONNX op type the TorchScript exporter writes for it (one node per module)
EXPORTED_OPS = {
    "Conv2d": "Conv",
    "Conv1d": "Conv",
    "ConvTranspose2d": "ConvTranspose",
    "Linear": "Gemm",
    "ReLU": "Relu",
    "ReLU6": "Clip",
    "MaxPool2d": "MaxPool",
    "AvgPool2d": "AveragePool",
    "AdaptiveAvgPool2d": "GlobalAveragePool",
    "Flatten": "Flatten",
    "Softmax": "Softmax",
    "Sigmoid": "Sigmoid",
    "BatchNorm2d": "BatchNormalization",
}


def exported_names(path: str, kind: str) -> tuple[str, ...]:
    """The ONNX node torch.onnx's TorchScript exporter names after module ``path`` (``features.2`` ->
    ``/features/features.2/Conv``): its scopes are the module path's prefixes. Empty for other modules."""
    op = EXPORTED_OPS.get(kind)
    if op is None:
        return ()
    parts = path.split(".")
    scopes = [".".join(parts[: i + 1]) for i in range(len(parts))]
    return ("/" + "/".join(scopes) + "/" + op,)
