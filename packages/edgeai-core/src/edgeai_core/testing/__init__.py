"""The plugin-author kit: conformance test classes per component kind and an in-process plugin host.

Subclass a conformance class in a pytest module, point it at your component and a small config, and pytest runs
the contract checks edgeai relies on::

    from edgeai_core.testing import RuntimeConformance

    class TestMyRuntime(RuntimeConformance):
        plugin = "mypkg.plugin"            # registered in-process (None: the installed plugins)
        component = "my-runtime"
        params = {"threads": 1}
        model, dataset = "numpy-mlp", "gaussian-blobs"      # how to make an artifact for it
        model_params = {"epochs": 2, "hidden": [8]}
        steps = [("my-compiler", {})]

Importing this package imports pytest (``pip install 'edgeai-core[testing]'``); importing ``edgeai_core`` or
``edgeai_core.api`` never imports this package. Names are resolved lazily, so ``edgeai_core.testing.docs``
(the generator of the hook reference in docs/plugins.md) runs without pytest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgeai_core.lazy import LazyExports

_EXPORTS: dict[str, str] = {
    "plugin_host": "host",
    "edgeai_plugin_host": "host",
    "ContractViolation": "conformance",
    "ComponentConformance": "conformance",
    "DatasetConformance": "conformance",
    "ModelConformance": "conformance",
    "CompilerConformance": "conformance",
    "ConverterConformance": "conformance",
    "RuntimeConformance": "conformance",
    "ProtocolConformance": "conformance",
    "HEAVY_MODULES": "conformance",
}

__all__ = [
    "HEAVY_MODULES",
    "CompilerConformance",
    "ComponentConformance",
    "ContractViolation",
    "ConverterConformance",
    "DatasetConformance",
    "ModelConformance",
    "ProtocolConformance",
    "RuntimeConformance",
    "edgeai_plugin_host",
    "plugin_host",
]


if TYPE_CHECKING:
    from edgeai_core.testing.conformance import (
        HEAVY_MODULES,
        CompilerConformance,
        ComponentConformance,
        ContractViolation,
        ConverterConformance,
        DatasetConformance,
        ModelConformance,
        ProtocolConformance,
        RuntimeConformance,
    )
    from edgeai_core.testing.host import edgeai_plugin_host, plugin_host


_LAZY = LazyExports(__name__, _EXPORTS, globals())


def __getattr__(name: str) -> Any:
    return _LAZY.resolve(name)


def __dir__() -> list[str]:
    return __all__
