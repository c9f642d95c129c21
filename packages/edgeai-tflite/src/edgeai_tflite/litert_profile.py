"""Per-operator profiles of ``.tflite`` models: LiteRT's op profiler, driven through its C API with ctypes.

The Python interpreters (LiteRT's ``Interpreter``, tflite-runtime, ``tf.lite``) time only whole invokes. LiteRT's
``libLiteRt.so`` (shipped in the ai-edge-litert wheel) exports the CompiledModel C API and its profiler
(``LiteRtCompiledModelGetProfiler``, ``LiteRtStartProfiler``, ``LiteRtGetProfilerEvents``). A second copy of the
model is compiled there with the runtime options payload ``enable_profiling = true`` (opaque options
``runtime_options_string``) and the CPU options of the runtime (``xnnpack``: ``num_threads``, and ``kernel_mode =
"builtin"`` when XNNPACK is off), run once to warm up, then ``runs`` times with the profiler on.

What the events say (checked on ai-edge-litert 2.3.0, one ``ProfiledEventData`` is 104 bytes on 64-bit Linux):

* ``OPERATOR_INVOKE_EVENT``: a TFLite builtin kernel; ``tag`` is the operator type (``CONV_2D``) and
  ``event_metadata1`` the operator's index in the model, so the mapping to the model's operators is exact;
* ``DELEGATE_OPERATOR_INVOKE_EVENT``: one XNNPACK kernel inside a delegated partition; ``tag`` is XNNPACK's name
  (``Convolution (NHWC, F32) IGEMM``) and ``event_metadata1`` its index inside the partition. Partitions run in
  place of runs of consecutive TFLite operators (those with no builtin event); inside one, XNNPACK's kernels are
  aligned with the operators by type in order. An operator without a kernel of its own (XNNPACK elides or
  fuses it) joins the record of the operator before it (``CONV_2D+RESHAPE``); a kernel that matches no operator
  is charged to the operator it follows;
* the ``DEFAULT`` event tagged ``Invoke``: the interpreter's whole invoke, which splits the events into runs.

``model_us`` is the wall time of as many runs again with the profiler stopped: between two operators the
profiler samples the process's memory use, which in a process with a large heap (TensorFlow loaded, many
models run) costs far more than the kernels and inflates the profiled ``Invoke`` (measured: 1.2-5 ms around
140 us of kernels); the profiled ``Invoke`` mean is in the notes.

Times are whole microseconds per event (the profiler's clock), so a sub-microsecond kernel reads 0 or 1; the
means over many runs are what carry information. Operators are named after their first output tensor (what
TFLite's benchmark tool prints) with their index (``#3 conv2/Relu``). TFLite keeps no ONNX node names: the
mapping to ONNX nodes is ``unknown``.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib.util
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeai_core.api import LayerProfile, ModelProfile, ProfileUnavailable

log = logging.getLogger(__name__)

PROFILER = "litert-profiler"
#: ``tflite::Profiler::EventType`` values the events carry
DEFAULT_EVENT = 1
OPERATOR_EVENT = 2
DELEGATE_OPERATOR_EVENT = 8
#: ``LiteRtTensorBufferLockMode``
LOCK_WRITE = 1
#: ``kLiteRtTensorBufferTypeHostMemory``
HOST_MEMORY = 1
#: ``kLiteRtHwAcceleratorCpu``
CPU = 1
#: a run this many times longer than the median run was stalled by something else: left out
STALL_FACTOR = 3
#: bytes of a ``LiteRtRankedTensorType`` (element type + layout: rank word, 8 dims, 8 strides) and of a layout
TENSOR_TYPE_BYTES = 72
LAYOUT_BYTES = 68
MAX_RANK = 8
#: the symbols used here; a libLiteRt without one of them cannot profile
SYMBOLS = (
    "LiteRtCreateEnvironment",
    "LiteRtCreateModelFromFile",
    "LiteRtCreateOptions",
    "LiteRtSetOptionsHardwareAccelerators",
    "LiteRtCreateOpaqueOptions",
    "LiteRtAddOpaqueOptions",
    "LiteRtCreateCompiledModel",
    "LiteRtCompiledModelGetProfiler",
    "LiteRtCompiledModelResizeInputTensor",
    "LiteRtGetCompiledModelInputTensorLayout",
    "LiteRtGetCompiledModelOutputTensorLayouts",
    "LiteRtCreateManagedTensorBuffer",
    "LiteRtLockTensorBuffer",
    "LiteRtUnlockTensorBuffer",
    "LiteRtGetTensorBufferPackedSize",
    "LiteRtRunCompiledModel",
    "LiteRtStartProfiler",
    "LiteRtStopProfiler",
    "LiteRtResetProfiler",
    "LiteRtGetNumProfilerEvents",
    "LiteRtGetProfilerEvents",
    "LiteRtGetModelSignature",
    "LiteRtGetNumSignatureInputs",
    "LiteRtGetNumSignatureOutputs",
    "LiteRtGetSignatureInputTensorByIndex",
    "LiteRtGetSignatureOutputTensorByIndex",
    "LiteRtGetRankedTensorType",
    "LiteRtGetTensorIndex",
    "LiteRtDestroyTensorBuffer",
    "LiteRtDestroyCompiledModel",
    "LiteRtDestroyOptions",
    "LiteRtDestroyModel",
    "LiteRtDestroyEnvironment",
)


class _MemoryUsage(ctypes.Structure):
    _fields_ = [
        ("total_allocated_bytes", ctypes.c_size_t),
        ("in_use_allocated_bytes", ctypes.c_size_t),
        ("private_footprint_bytes", ctypes.c_size_t),
    ]


class _Event(ctypes.Structure):
    """``ProfiledEventData`` (``litert/c/litert_profiler_event.h``)."""

    _fields_ = [
        ("tag", ctypes.c_char_p),
        ("event_type", ctypes.c_int),
        ("start_timestamp_us", ctypes.c_uint64),
        ("elapsed_time_us", ctypes.c_uint64),
        ("begin_mem_usage", _MemoryUsage),
        ("end_mem_usage", _MemoryUsage),
        ("event_metadata1", ctypes.c_int64),
        ("event_metadata2", ctypes.c_int64),
        ("event_source", ctypes.c_int),
    ]


@dataclass(frozen=True)
class Event:
    """One profiler event, copied out of LiteRT's buffer."""

    tag: str
    kind: int
    elapsed_us: int
    index: int


@dataclass(frozen=True)
class Operator:
    """One operator of the model's main subgraph."""

    index: int
    op_type: str
    output: str


def library_path() -> Path | None:
    """``libLiteRt.so`` of the installed ai-edge-litert, or None."""
    spec = importlib.util.find_spec("ai_edge_litert")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        for name in ("libLiteRt.so", "libLiteRt.dylib", "LiteRt.dll"):
            if (Path(folder) / name).is_file():
                return Path(folder) / name
    return None


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    path = library_path()
    if path is None:
        raise ProfileUnavailable(
            "TFLite's per-operator profile needs LiteRT's C library (libLiteRt.so from the ai-edge-litert "
            "package), which is not installed here"
        )
    lib = ctypes.CDLL(str(path))
    missing = [name for name in SYMBOLS if not hasattr(lib, name)]
    if missing:
        raise ProfileUnavailable(f"{path.name} lacks the profiler's C API ({', '.join(missing[:3])})")
    for name in SYMBOLS:
        getattr(lib, name).restype = ctypes.c_int
    for name in (
        "LiteRtDestroyTensorBuffer",
        "LiteRtDestroyCompiledModel",
        "LiteRtDestroyOptions",
        "LiteRtDestroyModel",
        "LiteRtDestroyEnvironment",
    ):
        getattr(lib, name).restype = None
    return lib


def _libc() -> ctypes.CDLL:
    try:  # the C library LiteRT frees the options' payload with
        libc = ctypes.CDLL(None)
        libc.strdup  # noqa: B018
    except (OSError, AttributeError, TypeError) as exc:
        raise ProfileUnavailable(f"the C library's strdup/free are not reachable here ({exc})") from None
    libc.strdup.restype = ctypes.c_void_p
    libc.strdup.argtypes = [ctypes.c_char_p]
    return libc


class _Api:
    """Calls into libLiteRt that raise on a status other than ``kLiteRtStatusOk``."""

    def __init__(self) -> None:
        self.lib = _library()

    def __call__(self, name: str, *args: Any) -> None:
        status = getattr(self.lib, name)(*args)
        if status != 0:
            raise RuntimeError(f"{name} returned LiteRT status {status}")


def operators(path: Path) -> list[Operator]:
    """The model's main-subgraph operators in order (type from the schema, name from the first output)."""
    import ai_edge_litert.schema_py_generated as schema

    model = schema.Model.GetRootAs(path.read_bytes(), 0)
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
        custom = code.CustomCode()
        codes.append(
            custom.decode() if builtin == schema.BuiltinOperator.CUSTOM and custom else names[builtin]
        )
    graph = model.Subgraphs(0)
    found = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        output = ""
        if op.OutputsLength():
            tensor = graph.Tensors(int(op.Outputs(0)))
            output = (tensor.Name() or b"").decode("utf-8", "replace")
        found.append(Operator(i, codes[op.OpcodeIndex()], output))
    return found


@contextlib.contextmanager
def _compiled(api: _Api, path: Path, threads: int, xnnpack: bool) -> Iterator[tuple[Any, Any, Any]]:
    """Environment, model and compiled model with profiling on; everything destroyed on exit."""
    libc = _libc()
    free = ctypes.cast(libc.free, ctypes.c_void_p)
    env, model, options, compiled = (ctypes.c_void_p() for _ in range(4))
    try:
        api("LiteRtCreateEnvironment", ctypes.c_int(0), None, ctypes.byref(env))
        # 2.x takes the environment first (older headers show LiteRtCreateModelFromFile(path, &model))
        api("LiteRtCreateModelFromFile", env, str(path).encode(), ctypes.byref(model))
        api("LiteRtCreateOptions", ctypes.byref(options))
        api("LiteRtSetOptionsHardwareAccelerators", options, ctypes.c_int(CPU))
        cpu = f"num_threads = {int(threads)}\n" + ("" if xnnpack else 'kernel_mode = "builtin"\n')
        for identifier, toml in (("runtime_options_string", "enable_profiling = true\n"), ("xnnpack", cpu)):
            opaque = ctypes.c_void_p()
            payload = ctypes.c_void_p(libc.strdup(toml.encode()))  # freed by LiteRT with the options
            api("LiteRtCreateOpaqueOptions", identifier.encode(), payload, free, ctypes.byref(opaque))
            api("LiteRtAddOpaqueOptions", options, opaque)
        api("LiteRtCreateCompiledModel", env, model, options, ctypes.byref(compiled))
        yield env, model, compiled
    finally:
        lib = api.lib
        if compiled:
            lib.LiteRtDestroyCompiledModel(compiled)
        if options:
            lib.LiteRtDestroyOptions(options)
        if model:
            lib.LiteRtDestroyModel(model)
        if env:
            lib.LiteRtDestroyEnvironment(env)


def _buffers(
    api: _Api,
    env: Any,
    model: Any,
    compiled: Any,
    inputs: dict[int, np.ndarray],
    outputs: dict[int, tuple[tuple[int, ...], int]],
) -> tuple[list[Any], list[Any]]:
    """Input buffers holding ``inputs`` (by tensor index; the model resized to their shapes) and output buffers
    of the shapes and sizes the interpreter gave (``outputs``: a dynamic model knows them once it has run)."""
    signature = ctypes.c_void_p()
    api("LiteRtGetModelSignature", model, ctypes.c_size_t(0), ctypes.byref(signature))
    counts = []
    for kind in ("Input", "Output"):
        n = ctypes.c_size_t()
        api(f"LiteRtGetNumSignature{kind}s", signature, ctypes.byref(n))
        counts.append(n.value)
    tensors: dict[str, list[tuple[Any, int]]] = {"Input": [], "Output": []}
    for kind, count in zip(("Input", "Output"), counts, strict=True):
        for i in range(count):
            tensor = ctypes.c_void_p()
            api(f"LiteRtGetSignature{kind}TensorByIndex", signature, ctypes.c_size_t(i), ctypes.byref(tensor))
            found = ctypes.c_uint32()
            api("LiteRtGetTensorIndex", tensor, ctypes.byref(found))
            tensors[kind].append((tensor, int(found.value)))
    arrays = []
    for i, (_, index) in enumerate(tensors["Input"]):
        if index not in inputs:
            raise RuntimeError(f"the compiled model's input tensor {index} is not one the runtime feeds")
        array = np.ascontiguousarray(inputs[index])
        dims = (ctypes.c_int * max(array.ndim, 1))(*array.shape)
        api(
            "LiteRtCompiledModelResizeInputTensor",
            compiled,
            ctypes.c_size_t(0),
            ctypes.c_size_t(i),
            dims,
            ctypes.c_size_t(array.ndim),
        )
        arrays.append(array)
    layouts = ctypes.create_string_buffer(LAYOUT_BYTES * max(counts[1], 1) + 64)
    api(
        "LiteRtGetCompiledModelOutputTensorLayouts",
        compiled,
        ctypes.c_size_t(0),
        ctypes.c_size_t(counts[1]),
        layouts,
        ctypes.c_bool(True),
    )
    made: dict[str, list[Any]] = {"Input": [], "Output": []}
    for kind in ("Input", "Output"):
        for i, (tensor, _) in enumerate(tensors[kind]):
            # the model's tensor type (element type and its possibly dynamic layout) with the resized layout
            ttype = ctypes.create_string_buffer(TENSOR_TYPE_BYTES + 184)
            api("LiteRtGetRankedTensorType", tensor, ttype)
            if kind == "Input":
                layout = ctypes.create_string_buffer(LAYOUT_BYTES + 60)
                api(
                    "LiteRtGetCompiledModelInputTensorLayout",
                    compiled,
                    ctypes.c_size_t(0),
                    ctypes.c_size_t(i),
                    layout,
                )
                ctypes.memmove(ctypes.addressof(ttype) + 4, layout, LAYOUT_BYTES)
            else:
                ctypes.memmove(
                    ctypes.addressof(ttype) + 4, ctypes.addressof(layouts) + LAYOUT_BYTES * i, LAYOUT_BYTES
                )
            if kind == "Input":
                size = arrays[i].nbytes
            else:
                shape, size = outputs.get(tensors[kind][i][1], ((), 0))
                if not size:
                    raise RuntimeError(f"the size of output tensor {tensors[kind][i][1]} is unknown")
                if 0 < len(shape) <= MAX_RANK:
                    _set_dims(ttype, shape)
            buffer = ctypes.c_void_p()
            api(
                "LiteRtCreateManagedTensorBuffer",
                env,
                ctypes.c_int(HOST_MEMORY),
                ttype,
                ctypes.c_size_t(size),
                ctypes.byref(buffer),
            )
            made[kind].append(buffer)
    for buffer, array in zip(made["Input"], arrays, strict=True):
        packed = ctypes.c_size_t()
        api("LiteRtGetTensorBufferPackedSize", buffer, ctypes.byref(packed))
        if packed.value != array.nbytes:
            raise RuntimeError(
                f"LiteRT's input buffer holds {packed.value} bytes, the input has {array.nbytes}"
            )
        address = ctypes.c_void_p()
        api("LiteRtLockTensorBuffer", buffer, ctypes.byref(address), ctypes.c_int(LOCK_WRITE))
        ctypes.memmove(address, array.ctypes.data, array.nbytes)
        api("LiteRtUnlockTensorBuffer", buffer)
    return made["Input"], made["Output"]


def _set_dims(ttype: Any, shape: Sequence[int]) -> None:
    """Write ``shape`` into a ``LiteRtRankedTensorType``: rank in the layout's first word (7 bits, no strides)."""
    word = ctypes.c_uint32.from_buffer(ttype, 4)
    word.value = len(shape)
    dims = (ctypes.c_int32 * MAX_RANK).from_buffer(ttype, 8)
    for i in range(MAX_RANK):
        dims[i] = int(shape[i]) if i < len(shape) else 0


def _events(api: _Api, profiler: Any) -> list[Event]:
    count = ctypes.c_int()
    api("LiteRtGetNumProfilerEvents", profiler, ctypes.byref(count))
    if count.value <= 0:
        return []
    raw = (_Event * count.value)()
    api("LiteRtGetProfilerEvents", profiler, count, raw)
    return [
        Event(
            (e.tag or b"").decode("utf-8", "replace"),
            int(e.event_type),
            int(e.elapsed_time_us),
            int(e.event_metadata1),
        )
        for e in raw
    ]


def record(
    path: Path,
    inputs: dict[int, np.ndarray],
    outputs: dict[int, tuple[tuple[int, ...], int]],
    runs: int,
    threads: int,
    xnnpack: bool,
) -> tuple[list[Event], list[int]]:
    """The profiler's events of ``runs`` inferences (after one warm-up run) of the model at ``path``, and the
    wall time (ns) of ``runs`` more with the profiler stopped."""
    api = _Api()
    from edgeai_tflite._capture import quiet

    with quiet("LiteRT"), _compiled(api, path, threads, xnnpack) as (env, model, compiled):
        ins, outs = _buffers(api, env, model, compiled, inputs, outputs)
        try:
            profiler = ctypes.c_void_p()
            api("LiteRtCompiledModelGetProfiler", compiled, ctypes.byref(profiler))
            if not profiler:
                raise ProfileUnavailable("LiteRT compiled the model without a profiler")
            in_array = (ctypes.c_void_p * len(ins))(*ins)
            out_array = (ctypes.c_void_p * len(outs))(*outs)

            def run() -> None:
                api(
                    "LiteRtRunCompiledModel",
                    compiled,
                    ctypes.c_size_t(0),
                    ctypes.c_size_t(len(ins)),
                    in_array,
                    ctypes.c_size_t(len(outs)),
                    out_array,
                )

            run()  # warm-up: first-run allocations stay out of the profile
            api("LiteRtResetProfiler", profiler)
            api("LiteRtStartProfiler", profiler)
            for _ in range(runs):
                run()
            api("LiteRtStopProfiler", profiler)
            events = _events(api, profiler)
            walls = []
            for _ in range(runs):  # the same runs without the profiler: the whole-model time
                started = time.perf_counter_ns()
                run()
                walls.append(time.perf_counter_ns() - started)
            return events, walls
        finally:
            for buffer in (*ins, *outs):
                api.lib.LiteRtDestroyTensorBuffer(buffer)


# -- from events to layers -----------------------------------------------------------------------------------

#: TFLite operator type -> words of the XNNPACK kernel names that run it
_XNN_WORDS: dict[str, tuple[str, ...]] = {
    "CONV_2D": ("Convolution", "Fully Connected"),  # XNNPACK runs a 1x1 convolution as a GEMM
    "DEPTHWISE_CONV_2D": ("Convolution",),
    "TRANSPOSE_CONV": ("Deconvolution",),
    "FULLY_CONNECTED": ("Fully Connected",),
    "BATCH_MATMUL": ("Batch Matrix Multiply", "Fully Connected"),
    "MAX_POOL_2D": ("Max Pooling",),
    "AVERAGE_POOL_2D": ("Average Pooling",),
    "MEAN": ("Global Average Pooling", "Mean", "Reduce"),
    "SUM": ("Sum", "Reduce"),
    "ADD": ("Add",),
    "SUB": ("Subtract",),
    "MUL": ("Multiply",),
    "DIV": ("Divide",),
    "RESHAPE": ("Reshape", "Static Reshape", "Copy"),
    "SQUEEZE": ("Reshape", "Static Reshape", "Copy"),
    "EXPAND_DIMS": ("Reshape", "Static Reshape", "Copy"),
    "SOFTMAX": ("SoftMax", "Softmax"),
    "LOGISTIC": ("Sigmoid",),
    "TANH": ("Tanh",),
    "RELU": ("Clamp",),
    "RELU6": ("Clamp",),
    "RELU_N1_TO_1": ("Clamp",),
    "HARD_SWISH": ("HardSwish",),
    "LEAKY_RELU": ("Leaky ReLU",),
    "PRELU": ("PReLU",),
    "QUANTIZE": ("Convert",),
    "DEQUANTIZE": ("Convert",),
    "CONCATENATION": ("Concatenate", "Copy"),
    "PAD": ("Constant Pad",),
    "TRANSPOSE": ("Transpose",),
    "RESIZE_BILINEAR": ("Resize Bilinear",),
    "SLICE": ("Slice",),
    "STRIDED_SLICE": ("Slice",),
    "SPLIT": ("Split", "Copy"),
    "MAXIMUM": ("Maximum",),
    "MINIMUM": ("Minimum",),
}


def _matches(kernel: str, op_type: str) -> bool:
    words = _XNN_WORDS.get(op_type)
    if words is None:  # an operator the table does not know: compare the plain words
        return op_type.replace("_", " ").lower().split()[0] in kernel.lower()
    return any(kernel.startswith(word) for word in words)


def _runs(events: Sequence[Event]) -> list[list[Event]]:
    """The events split at each ``Invoke`` (one inference each)."""
    runs: list[list[Event]] = []
    for event in events:
        if event.kind == DEFAULT_EVENT and event.tag == "Invoke":
            runs.append([event])
        elif runs:
            runs[-1].append(event)
    return runs


def _align(kernels: Sequence[Event], ops: Sequence[int], types: dict[int, str]) -> dict[int, list[Event]]:
    """XNNPACK kernels of one partition assigned to its TFLite operators (in order, by type)."""
    assigned: dict[int, list[Event]] = {op: [] for op in ops}
    position = -1  # the operator the last matched kernel ran
    for kernel in kernels:
        match = next((j for j in range(position + 1, len(ops)) if _matches(kernel.tag, types[ops[j]])), None)
        if match is None:  # no operator of its type ahead: charged to the operator it follows
            assigned[ops[max(position, 0)]].append(kernel)
            continue
        position = match
        assigned[ops[match]].append(kernel)
    return assigned


@dataclass
class _Layer:
    ops: list[int]
    total: float = 0.0
    calls: int = 0


def layers_of(
    events: Sequence[Event], ops: Sequence[Operator]
) -> tuple[list[LayerProfile], float, int, list[str]]:
    """Layer records, the mean whole-invoke time, the runs kept and notes, from the events of several runs."""
    runs = _runs(events)
    if not runs:
        raise ProfileUnavailable("LiteRT's profiler recorded no Invoke event")
    durations = [run[0].elapsed_us for run in runs]
    median = sorted(durations)[len(durations) // 2]
    notes: list[str] = []
    kept = [run for run, d in zip(runs, durations, strict=True) if d <= STALL_FACTOR * max(median, 1)]
    if len(kept) < len(runs):
        notes.append(
            f"{len(runs) - len(kept)} of {len(runs)} runs left out: over {STALL_FACTOR}x the median run"
        )
    types = {op.index: op.op_type for op in ops}
    per_op: dict[int, list[Event]] = {op.index: [] for op in ops}
    unknown: dict[str, list[Event]] = {}
    unaligned = 0
    for run in kept:
        builtin = [e for e in run if e.kind == OPERATOR_EVENT]
        for e in builtin:  # a builtin kernel's tag is its operator's type: else the layout read here is wrong
            if types.get(e.index) != e.tag:
                raise ProfileUnavailable(
                    f"LiteRT's profiler events do not read as this module expects (operator {e.index} reported "
                    f"as {e.tag!r}, the model has {types.get(e.index)!r}): another ProfiledEventData layout"
                )
        builtin_ops = {e.index for e in builtin}
        for e in builtin:
            per_op.setdefault(e.index, []).append(e)
        # delegated partitions in execution order: kernels between builtin events, restarting their count
        partitions: list[list[Event]] = []
        previous: Event | None = None
        for e in run[1:]:
            if e.kind == DELEGATE_OPERATOR_EVENT:
                if (
                    not partitions
                    or previous is None
                    or previous.kind != DELEGATE_OPERATOR_EVENT
                    or e.index <= previous.index
                ):
                    partitions.append([])
                partitions[-1].append(e)
            if e.kind in (OPERATOR_EVENT, DELEGATE_OPERATOR_EVENT):
                previous = e
        groups: list[list[int]] = []
        for op in ops:
            if op.index in builtin_ops:
                if groups and groups[-1]:
                    groups.append([])
                continue
            if not groups:
                groups.append([])
            groups[-1].append(op.index)
        groups = [g for g in groups if g]
        if len(groups) != len(partitions):
            unaligned += 1
            for kernels in partitions:
                for kernel in kernels:
                    unknown.setdefault(kernel.tag, []).append(kernel)
            continue
        for kernels, group in zip(partitions, groups, strict=True):
            for index, got in _align(kernels, group, types).items():
                per_op[index].extend(got)
    count = len(kept)
    model_us = sum(run[0].elapsed_us for run in kept) / count
    # operators without a kernel of their own join the operator before them
    merged: list[_Layer] = []
    for op in ops:
        got = per_op.get(op.index, [])
        if not got and merged and not unknown:
            merged[-1].ops.append(op.index)
            continue
        merged.append(_Layer([op.index], float(sum(e.elapsed_us for e in got)), len(got)))
    by_index = {op.index: op for op in ops}
    layers = [
        LayerProfile(
            name=f"#{layer.ops[0]} {by_index[layer.ops[-1]].output}".rstrip(),
            op_type="+".join(types[i] for i in layer.ops),
            mean_us=layer.total / count,
            calls=layer.calls / count,
        )
        for layer in merged
        if layer.calls or not unknown
    ]
    for tag, got in unknown.items():
        layers.append(LayerProfile(tag, tag, sum(e.elapsed_us for e in got) / count, len(got) / count))
    if unaligned:
        notes.append(
            f"{unaligned} run(s): XNNPACK's partitions could not be matched to the model's operators; their "
            "kernels are listed under XNNPACK's names"
        )
    joined = sum(len(layer.ops) - 1 for layer in merged)
    if joined:
        notes.append(f"{joined} operator(s) ran inside a neighbour's XNNPACK kernel and share its record")
    notes.append("TFLite keeps no ONNX node names: operators are not mapped to ONNX nodes")
    return layers, model_us, count, notes


def profile_file(
    path: Path,
    inputs: dict[int, np.ndarray],
    outputs: dict[int, tuple[tuple[int, ...], int]],
    runs: int,
    threads: int,
    xnnpack: bool,
) -> ModelProfile:
    """LiteRT's per-operator profile of ``runs`` inferences of the model at ``path``."""
    ops = operators(path)
    try:
        events, walls = record(path, inputs, outputs, runs, threads, xnnpack)
    except RuntimeError as exc:
        raise ProfileUnavailable(f"LiteRT's CompiledModel API cannot run {path.name} here: {exc}") from None
    layers, invoke_us, count, notes = layers_of(events, ops)
    median = sorted(walls)[len(walls) // 2]
    calm = [w for w in walls if w <= STALL_FACTOR * median]
    model_us = sum(calm) / len(calm) / 1e3
    notes.append(
        f"model_us: LiteRT's Run without the profiler ({len(calm)} runs); with it, the invoke took {invoke_us:.1f} us "
        "(the profiler's own bookkeeping between operators included)"
    )
    kernels = "XNNPACK" if xnnpack else "TFLite's builtin kernels"
    notes.insert(
        0, f"LiteRT CompiledModel API, {kernels}, {threads} thread(s); times are whole microseconds per event"
    )
    return ModelProfile(PROFILER, tuple(layers), count, model_us, tuple(notes))
