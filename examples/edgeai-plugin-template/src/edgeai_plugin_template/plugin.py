"""Registration: the records edgeai reads to list, describe and plan with these components.

This module is imported by every ``edgeai`` command, so it imports nothing heavy and no implementation: each
record names its implementation as a ``"module:Class"`` string that edgeai imports only to build it. Plugins
import edgeai only through ``edgeai_core.api``.
"""

from __future__ import annotations

from edgeai_core.api import CompilerRecord, DatasetRecord, Param, RuntimeRecord, hookimpl

#: The artifact format both the compiler and the runtime work on: the core's numpy MLP archive (``numpy-mlp``).
FORMAT = "npz-mlp"


#: ``template-waves``: how many waves, how long and how noisy.
WAVE_PARAMS = (
    Param("classes", "int", default=3, minimum=2, maximum=16, help="number of frequencies"),
    Param("length", "int", default=32, minimum=8, help="values per wave"),
    Param("samples", "int", default=300, minimum=20, help="waves in all splits together"),
    Param("noise", "float", default=0.3, minimum=0.0, help="standard deviation of the added noise"),
)

#: ``template-numpy``: the arithmetic of its matrix products.
PRECISION = Param(
    "precision",
    "choice",
    default="float32",
    choices=("float32", "float64"),
    help="arithmetic of the matrix products (outputs are float32 either way)",
)


# One hook per component kind; each returns the records of that kind.


@hookimpl
def edgeai_register_datasets() -> list[DatasetRecord]:
    waves = DatasetRecord(
        name="template-waves",
        summary="Seeded noisy sine waves, one class per frequency (generated; nothing to download)",
        factory="edgeai_plugin_template.waves:Waves",
        task="classification",
        params=WAVE_PARAMS,
    )
    return [waves]


@hookimpl
def edgeai_register_compilers() -> list[CompilerRecord]:
    fp16 = CompilerRecord(
        name="template-fp16",
        summary="Half-precision weights for npz-mlp models (2x smaller; computed in float32)",
        factory="edgeai_plugin_template.fp16:HalfWeights",
        input_formats=(FORMAT,),
        output_format=FORMAT,
    )
    return [fp16]


@hookimpl
def edgeai_register_runtimes() -> list[RuntimeRecord]:
    numpy_mlp = RuntimeRecord(
        name="template-numpy",
        summary="npz-mlp models in plain numpy, with optional float64 accumulation",
        factory="edgeai_plugin_template.runtime:NumpyMlpRuntime",
        formats=(FORMAT,),
        params=(PRECISION,),
    )
    return [numpy_mlp]
