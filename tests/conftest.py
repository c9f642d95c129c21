"""Fixtures every test folder may use: plugin hosts with first-party plugins registered in-process, and a
builder of components that gives each one its own work folder."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

#: name -> (registration module, distribution) of the first-party plugins
FIRST_PARTY = {
    "core": ("edgeai_core.plugin", "edgeai-core"),
    "datasets": ("edgeai_datasets.plugin", "edgeai-datasets"),
    "torch": ("edgeai_torch.plugin", "edgeai-torch"),
    "onnx": ("edgeai_onnx.plugin", "edgeai-onnx"),
    "tflite": ("edgeai_tflite.plugin", "edgeai-tflite"),
    "tvm": ("edgeai_tvm.plugin", "edgeai-tvm"),
}


@pytest.fixture(scope="session")
def first_party_host() -> Callable[..., Any]:
    """``first_party_host("torch", optional=("datasets",), extra=((module, name, distribution),))``: a fresh
    plugin host (no discovery) with the core's built-ins, the named first-party plugins, those of ``optional``
    that are installed, and ``extra`` plugin modules."""

    def build(
        *names: str, optional: tuple[str, ...] = (), extra: tuple[tuple[Any, str, str], ...] = ()
    ) -> Any:
        from edgeai_core.plugins import PluginHost

        host = PluginHost(discover=False, env={})
        wanted = [
            "core",
            *names,
            *(n for n in optional if importlib.util.find_spec(f"edgeai_{n}") is not None),
        ]
        for name in wanted:
            module, distribution = FIRST_PARTY[name]
            host.register(
                importlib.import_module(module), name=name, distribution=distribution, version="0.1.0"
            )
        for module, name, distribution in extra:
            host.register(module, name=name, distribution=distribution, version="0")
        return host

    return build


@pytest.fixture(scope="session")
def component_builder() -> Callable[[Any, Path], Callable[..., Any]]:
    """``component_builder(host, root)`` -> ``make(kind, name, seed=0, **params)``: a component of ``host``
    built with its own work folder under ``root``."""

    def builder(host: Any, root: Path) -> Callable[..., Any]:
        from edgeai_core.components import Context

        counter = iter(range(10_000))

        def make(kind: str, name: str, *, seed: int = 0, **params: Any) -> Any:
            work = root / f"{next(counter):02d}-{kind}-{name}"
            work.mkdir(parents=True)
            return host.get(kind, name).create(params, where=kind, context=Context(workdir=work, seed=seed))

        return make

    return builder
