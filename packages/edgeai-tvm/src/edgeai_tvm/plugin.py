"""Registration of the edgeai-tvm components (entry point ``tvm`` in the ``edgeai`` group).

Records only: this module imports no TVM (nor onnx), so listing, describing and planning stay light. The
factories import TVM when a component is built: :mod:`edgeai_tvm.compiler` the full compiler,
:mod:`edgeai_tvm.runtime` only TVM's runtime library.
"""

from __future__ import annotations

from edgeai_core import CompilerRecord, DemoVariant, OnnxBackendRecord, Param, RuntimeRecord, hookimpl
from edgeai_core.api import KnownComponent, threads_param
from edgeai_tvm.targets import PRESETS

FORMAT = "tvm"


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    return [
        CompilerRecord(
            name="tvm",
            summary="Apache TVM: ONNX (float or QDQ int8) -> Relax -> shared library for the host or a cross target",
            factory="edgeai_tvm.compiler:TvmCompiler",
            input_formats=("onnx",),
            output_format=FORMAT,
            install="edgeai-tvm[compile]",
            modules=("tvm", "onnx"),
            static_dims=True,
            params=(
                Param(
                    "target",
                    "choice",
                    default="llvm",
                    choices=tuple(PRESETS),
                    help="target preset: llvm (this machine), aarch64 or armv7 (cross compiled: needs the "
                    "matching g++ cross toolchain)",
                ),
                Param(
                    "target_options",
                    "dict",
                    default=None,
                    help='TVM target keys merged over the preset, e.g. {"mcpu": "cortex-a72"} or '
                    '{"mtriple": "riscv64-linux-gnu"}',
                ),
                Param(
                    "opt_level",
                    "int",
                    default=3,
                    minimum=0,
                    maximum=3,
                    help="TVM pass context and LLVM optimization level; 0 also skips operator fusion",
                ),
                Param(
                    "batch",
                    "str",
                    default="1",
                    help="batch dimension of the compiled model: an integer >= 1, or 'dynamic' for any batch",
                ),
                Param(
                    "tuning_trials",
                    "int",
                    default=0,
                    minimum=0,
                    help="MetaSchedule trial budget for operators the tuning database lacks (0: no tuning; "
                    "needs edgeai-tvm[tune] and a static batch)",
                ),
                Param(
                    "tuning_dir",
                    "path",
                    default=None,
                    help="MetaSchedule database folder: its records are applied, operators it already holds are "
                    "never tuned again, new ones are added (default: a fresh one in the step's work folder)",
                ),
                Param(
                    "cross_compiler",
                    "path",
                    default=None,
                    help="C++ compiler that links the library (default: the host's g++, or "
                    "aarch64-linux-gnu-g++ / arm-linux-gnueabihf-g++ for the cross presets)",
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    return [
        RuntimeRecord(
            name="tvm",
            summary="Apache TVM Relax VM over an exported library, with TVM's runtime library only",
            factory="edgeai_tvm.runtime:TvmRuntime",
            formats=(FORMAT,),
            install="edgeai-tvm",
            modules=("tvm",),
            native_code=True,
            params=(
                threads_param(
                    "TVM worker threads (TVM_NUM_THREADS, process-wide; 0: TVM's default, one per physical core)",
                    minimum=0,
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_demo_variants() -> list[DemoVariant]:
    # Same dataset and model tables as the other plugins' variants, so the demo trains the CNN once; the
    # planner inserts torch-to-onnx before the ONNX steps. Untuned: tuning takes minutes (README: how to
    # give it a budget).
    runtime = {"name": "tvm", "threads": 1}
    quantize = {"name": "onnx-quantize", "mode": "static"}
    variants = DemoVariant.table(
        {"name": "digits"},
        {"name": "digits-cnn", "epochs": 30},
        [
            (
                "tvm-float",
                50,
                "digits CNN exported to ONNX, compiled by TVM for this CPU (untuned), Relax VM (1 thread)",
                [{"name": "tvm"}],
                runtime,
            ),
            (
                "tvm-int8",
                51,
                "digits CNN, static int8 QDQ quantization, compiled by TVM (untuned), Relax VM (1 thread)",
                [quantize, {"name": "tvm"}],
                runtime,
            ),
        ],
    )
    return variants + [
        DemoVariant(
            name=f"{prefix}-tvm",
            summary=f"{what} exported to ONNX, compiled by TVM for this CPU (untuned), Relax VM (1 thread)",
            order=order,
            # untuned TVM runs these convolutions in tens of milliseconds: 100 timed runs, not the demo's 1000
            config={
                "dataset": dataset,
                "model": model,
                "steps": [{"name": "tvm"}],
                "runtime": dict(runtime),
                "benchmark": {"warmup": 5, "min_count": 100, "min_duration_s": 1.0},
            },
        )
        for dataset, model, prefix, order, what in (
            (
                {"name": "shapes"},
                {"name": "shapes-detector"},
                "detector",
                62,
                "shapes detector (CenterNet-style)",
            ),
            (
                {"name": "shapes-segmentation"},
                {"name": "shapes-segmenter"},
                "segmenter",
                72,
                "shapes segmenter (tiny U-Net)",
            ),
        )
    ]


@hookimpl
def edgeai_register_onnx_backends() -> list[OnnxBackendRecord]:
    # `edgeai onnx-backend-tests`: each case through the tvm compiler (llvm, this machine) and the tvm runtime
    return [
        OnnxBackendRecord(
            name="tvm",
            summary="ONNX -> the tvm compiler (llvm for this CPU, untuned) -> the tvm runtime (Relax VM)",
            factory="edgeai_tvm.backend_suite:TvmBackend",
            uses=("compiler:tvm", "runtime:tvm"),
            install="edgeai-tvm[compile]",
            modules=("tvm", "onnx"),
            params=(
                Param(
                    "opt_level", "int", default=3, minimum=0, maximum=3, help="the tvm compiler's opt_level"
                ),
                Param("threads", "int", default=1, minimum=0, help="the tvm runtime's threads"),
            ),
        )
    ]


# Sibling components the demo variants and the ONNX input of the compiler reach.
@hookimpl
def edgeai_known_components() -> list[KnownComponent]:
    return KnownComponent.catalog(
        {
            "edgeai-datasets": ["dataset:digits", "dataset:shapes", "dataset:shapes-segmentation"],
            "edgeai-torch": [
                "model:digits-cnn",
                "model:shapes-detector",
                "model:shapes-segmenter",
                "converter:torch-to-onnx",
            ],
            "edgeai-onnx": ["compiler:onnx-quantize", "runtime:onnxruntime", "model:onnx-file"],
        }
    )
