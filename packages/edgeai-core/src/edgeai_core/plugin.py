"""Registration of the core's built-in components (entry point ``core`` in the ``edgeai`` group).

Like every plugin module it only declares records; the implementations in :mod:`edgeai_core.builtins`
are imported when a component is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgeai_core.hookspecs import hookimpl
from edgeai_core.params import REQUIRED, Param
from edgeai_core.records import (
    FORMAT_FROM_SIDECAR,
    CompilerRecord,
    DatasetRecord,
    ExecutorRecord,
    ModelRecord,
    ProbeRecord,
    ProtocolRecord,
    RuntimeRecord,
)

if TYPE_CHECKING:
    from edgeai_core.targetprofiles import TargetProfile


@hookimpl
def edgeai_register_datasets() -> list[DatasetRecord]:
    return [
        DatasetRecord(
            name="gaussian-blobs",
            summary="Generated Gaussian clusters (seeded; nothing to download), split 60/20/20",
            factory="edgeai_core.builtins.blobs:GaussianBlobs",
            task="classification",
            params=(
                Param("classes", "int", default=4, minimum=2, maximum=1000, help="number of classes"),
                Param("features", "int", default=16, minimum=1, help="values per sample"),
                Param("samples", "int", default=1200, minimum=10, help="samples in all splits together"),
                Param(
                    "separation",
                    "float",
                    default=1.0,
                    minimum=0.0,
                    help="distance between class centres in units of the noise",
                ),
            ),
        )
    ]


@hookimpl
def edgeai_register_models() -> list[ModelRecord]:
    return [
        ModelRecord(
            name="numpy-mlp",
            summary="Multilayer perceptron in plain numpy, trained with Adam (format npz-mlp)",
            factory="edgeai_core.builtins.mlp:NumpyMlp",
            format="npz-mlp",
            tasks=("classification",),
            params=(
                Param("hidden", "list[int]", default=[64], help="hidden layer widths", minimum=1),
                Param("epochs", "int", default=60, minimum=1, help="training epochs"),
                Param("learning_rate", "float", default=0.01, minimum=0.0, help="Adam learning rate"),
                Param("batch_size", "int", default=32, minimum=1, help="training batch size"),
                Param("weight_decay", "float", default=0.0, minimum=0.0, help="L2 penalty on weights"),
                Param("checkpoint", "path", default=None, help="load this .npz instead of training"),
                Param(
                    "input_shape",
                    "list[int]",
                    default=None,
                    minimum=1,
                    help="input shape per sample when loading a checkpoint (default: flat)",
                ),
            ),
        ),
        ModelRecord(
            name="artifact-file",
            summary="Any model file with an edgeai sidecar (a compiled TVM library, an earlier run's artifact)",
            factory="edgeai_core.builtins.artifactfile:ArtifactFile",
            format=FORMAT_FROM_SIDECAR,
            tasks=("any",),
            trainable=False,
            params=(
                Param(
                    "path", "path", default=REQUIRED, help="the model file; <path>.edgeai.json describes it"
                ),
                Param(
                    "format",
                    "str",
                    default=None,
                    help="the format the sidecar must declare (default: whichever it declares)",
                ),
            ),
        ),
    ]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    return [
        CompilerRecord(
            name="weight-int8",
            summary="Per-channel symmetric int8 weights for npz-mlp models (4x smaller)",
            factory="edgeai_core.builtins.mlp:WeightInt8",
            input_formats=("npz-mlp",),
            output_format="npz-mlp",
        )
    ]


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    return [
        RuntimeRecord(
            name="numpy",
            summary="Reference runtime for npz-mlp models in plain numpy",
            factory="edgeai_core.builtins.mlp:NumpyRuntime",
            formats=("npz-mlp",),
        ),
        RuntimeRecord(
            name="echo",
            summary="Diagnostic runtime returning its inputs (measures a link, not a model; format echo)",
            factory="edgeai_core.builtins.echo:EchoRuntime",
            formats=("echo",),
        ),
    ]


_TIMEOUT = Param(
    "timeout_s",
    "float",
    default=10.0,
    minimum=0.001,
    help="host side: seconds to wait for each reply before the run fails",
)
_TOKEN = Param(
    "token_file",
    "path",
    default=None,
    help="file holding the shared secret (HMAC-SHA256 challenge-response; the token itself is never sent)",
)


@hookimpl
def edgeai_register_protocols() -> list[ProtocolRecord]:
    return [
        ProtocolRecord(
            name="tcp",
            summary="Wire protocol over TCP (TCP_NODELAY, sendfile uploads; serve binds 127.0.0.1 by default)",
            factory="edgeai_core.transports.tcp:TcpProtocol",
            params=(
                Param(
                    "host", "str", default="127.0.0.1", help="target address (edgeai serve: address to bind)"
                ),
                Param(
                    "port",
                    "int",
                    default=7575,
                    minimum=0,
                    maximum=65535,
                    help="TCP port (edgeai serve: 0 picks a free one and prints it)",
                ),
                _TIMEOUT,
                _TOKEN,
            ),
        ),
        ProtocolRecord(
            name="serial",
            summary="Wire protocol over a serial line (CRC32, acknowledged frames, retransmission; pyserial)",
            factory="edgeai_core.transports.serialport:SerialProtocol",
            install="edgeai-core[serial]",
            params=(
                Param("device", "str", help="serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0"),
                Param("baudrate", "int", default=115200, minimum=50, help="line speed in bits per second"),
                _TIMEOUT,
                _TOKEN,
            ),
        ),
    ]


@hookimpl
def edgeai_register_targets() -> list[TargetProfile]:
    """``host``: this machine, measured (cores, RAM, ISA, CPU model and flags, clock)."""
    from edgeai_core.hostprofile import measure_host

    return [measure_host()]


@hookimpl
def edgeai_register_probes() -> list[ProbeRecord]:
    return [
        ProbeRecord(
            name="nvml",
            summary="NVIDIA GPU utilisation, memory and power through NVML (left out where NVML is absent)",
            factory="edgeai_core.builtins.nvml:NvmlProbe",
            install="nvidia-ml-py",
        )
    ]


@hookimpl
def edgeai_register_executors() -> list[ExecutorRecord]:
    return [
        ExecutorRecord(
            name="local",
            summary="This machine: compiles in parallel worker processes, one benchmark per device at a time",
            factory="edgeai_core.executors:LocalExecutor",
        )
    ]
