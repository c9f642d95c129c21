"""edgeai-core: the plugin host, component interfaces, pipeline runner, measurements and the ``edgeai`` CLI.

Plugin authors need only what this module re-exports: ``hookimpl``, the record types and ``Param``; the
component base classes live in :mod:`edgeai_core.components`.
"""

from __future__ import annotations

import os

from edgeai_core.hookspecs import hookimpl, hookspec
from edgeai_core.params import REQUIRED, Param, ParamSet
from edgeai_core.records import AnalyzerRecord as AnalyzerRecord
from edgeai_core.records import CompilerRecord as CompilerRecord
from edgeai_core.records import ConverterRecord as ConverterRecord
from edgeai_core.records import DatasetRecord as DatasetRecord
from edgeai_core.records import DemoVariant as DemoVariant
from edgeai_core.records import ExecutorRecord as ExecutorRecord
from edgeai_core.records import GridSuiteRecord as GridSuiteRecord
from edgeai_core.records import KnownComponent as KnownComponent
from edgeai_core.records import ModelRecord as ModelRecord
from edgeai_core.records import OnnxBackendRecord as OnnxBackendRecord
from edgeai_core.records import ProbeRecord as ProbeRecord
from edgeai_core.records import ProtocolRecord as ProtocolRecord
from edgeai_core.records import Registration as Registration
from edgeai_core.records import RuntimeRecord as RuntimeRecord

#: Frameworks' own telemetry is off in every edgeai process and the processes it starts: ONNX Runtime 1.32
#: otherwise starts a thread that keeps an event store under ~/.cache/Microsoft and uploads to Microsoft's
#: collector, which is network traffic nobody asked for and work running beside the timed calls. A value
#: the user set (e.g. ``ORT_DISABLE_TELEMETRY=0``) is kept.
FRAMEWORK_TELEMETRY_OFF = {"ORT_DISABLE_TELEMETRY": "1"}
for _name, _value in FRAMEWORK_TELEMETRY_OFF.items():
    os.environ.setdefault(_name, _value)

__version__ = "0.1.0"

__all__ = [
    "REQUIRED", "AnalyzerRecord", "CompilerRecord", "ConverterRecord", "DatasetRecord", "DemoVariant",
    "ExecutorRecord", "GridSuiteRecord",
    "KnownComponent", "ModelRecord", "OnnxBackendRecord", "Param", "ParamSet", "ProbeRecord", "ProtocolRecord",
    "Registration", "RuntimeRecord", "__version__", "hookimpl", "hookspec",
]  # fmt: skip
