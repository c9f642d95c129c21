"""Fixtures every test folder may use: plugin hosts with first-party plugins registered in-process, and a
builder of components that gives each one its own work folder."""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
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
    "report": ("edgeai_report.plugin", "edgeai-report"),
}


@contextlib.contextmanager
def _imported_from(folder: Path, name: str) -> Iterator[Any]:
    sys.path.insert(0, str(folder))
    module = importlib.import_module(name)
    yield module
    sys.path.remove(str(folder))
    sys.modules.pop(name, None)


@pytest.fixture(scope="session")
def support_module() -> Callable[[Path, str], contextlib.AbstractContextManager[Any]]:
    """``with support_module(folder, name) as module``: the module ``name`` of a test package's support folder,
    importable by name (by the records' factories, by worker processes) until the block ends."""
    return _imported_from


def _python_stdout(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout


@pytest.fixture(scope="session")
def python_stdout() -> Callable[[str], str]:
    """``python_stdout(code)``: what ``python -c code`` prints in a fresh interpreter (it must exit 0)."""
    return _python_stdout


@pytest.fixture(scope="session")
def digits_session(
    tmp_path_factory: pytest.TempPathFactory,
    first_party_host: Callable[..., Any],
    component_builder: Callable[..., Any],
) -> Callable[..., tuple[Any, Callable[..., Any], Any]]:
    """``host, make, digits = digits_session(plugin, folder, **params)``: a host with the core's built-ins,
    ``plugin`` and edgeai-datasets, a builder working in a fresh ``folder``, and edgeai-datasets' ``digits``
    (with ``params``) prepared. Skips the test when edgeai-datasets is not installed."""

    def build(plugin: str, folder: str, **params: Any) -> tuple[Any, Callable[..., Any], Any]:
        pytest.importorskip("edgeai_datasets", reason="edgeai-datasets provides the digits dataset")
        host = first_party_host(plugin, optional=("datasets",))
        make = component_builder(host, tmp_path_factory.mktemp(folder))
        digits = make("dataset", "digits", **params)
        digits.prepare()
        return host, make, digits

    return build


def _installed(distribution: str) -> Any:
    try:
        return importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{distribution} is not installed as a distribution (running from a source tree)")


@pytest.fixture(scope="session")
def installed_distribution() -> Callable[[str], Any]:
    """``installed_distribution(name)``: the installed distribution's metadata; skips the test without it."""
    return _installed


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


#: Runs in a fresh interpreter: registers the core and one plugin module, lists, describes and plans with them,
#: then prints which of the modules named in argv[3:] got imported.
_PLANNING_PROBE = """
import json, sys
from edgeai_core.config import parse_config
from edgeai_core.planner import plan_pipeline
from edgeai_core.plugins import PluginHost
import importlib
import edgeai_core.plugin

module, config, heavy = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3:]
host = PluginHost(discover=False, env={})
host.register(edgeai_core.plugin, name="core")
host.register(importlib.import_module(module), name="plugin")
for record in host.records():
    record.params.json_schema()
    record.facts()
host.demo_variants()
plan_pipeline(parse_config(config), host)
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


@pytest.fixture
def imported_by_planning() -> Callable[..., list[str]]:
    """``imported_by_planning(plugin_module, heavy, model={...}, steps=[...], runtime={...})``: which of
    ``heavy`` a fresh interpreter imports to list, describe (JSON Schema, facts, demo variants) and plan that
    pipeline (on the core's gaussian-blobs) with that plugin registered."""

    def probe(module: str, heavy: tuple[str, ...], **tables: Any) -> list[str]:
        config = {"dataset": {"name": "gaussian-blobs"}, **tables}
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEAI_")}
        env["PYTHONPATH"] = os.pathsep.join(sys.path)
        done = subprocess.run(
            [sys.executable, "-c", _PLANNING_PROBE, module, json.dumps(config), *heavy],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        found: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
        return found

    return probe


def _edgeai_console(
    *args: str, cwd: Path | None = None, timeout: float = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "edgeai"
    if not script.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    return subprocess.run(
        [str(script), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
    )  # fmt: skip


@pytest.fixture(scope="session")
def edgeai_console() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``edgeai_console(*args, cwd=folder, timeout=300, env={...})``: the installed ``edgeai`` console script
    run in ``folder`` with ``env`` added to this environment (the test is skipped where it is not installed
    next to this interpreter)."""
    return _edgeai_console


@pytest.fixture(scope="session")
def bench_json() -> Callable[..., dict[str, Any]]:
    """``bench_json(model, *args, cwd=folder, timeout=300, expect={...})``: ``edgeai bench MODEL *args --json``
    through the console script, asserted to succeed (and its summary to hold ``expect``); its JSON summary."""

    def bench(
        model: Path, *args: str, cwd: Path, timeout: float = 300, expect: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        run = _edgeai_console("bench", str(model), *args, "--json", cwd=cwd, timeout=timeout)
        assert run.returncode == 0, run.stderr
        summary: dict[str, Any] = json.loads(run.stdout)
        if expect is not None:
            assert {key: summary.get(key) for key in expect} == expect
        return summary

    return bench


@pytest.fixture(scope="session")
def bench_remote_json() -> Callable[..., dict[str, Any]]:
    """``bench_remote_json(runtime, model, *args, cwd=folder, server_args=(), timeout=300)``: ``edgeai bench``
    of ``model`` on a real ``edgeai serve --runtime RUNTIME`` subprocess, asserted to succeed; its JSON
    summary (its ``target`` asserted to name the server)."""
    from edgeai_core.target_server import start_local_server

    def bench(
        runtime: str,
        model: Path,
        *args: str,
        cwd: Path,
        server_args: tuple[str, ...] = (),
        timeout: float = 300,
    ) -> dict[str, Any]:
        with start_local_server(runtime, cwd / "server", extra_args=list(server_args)) as server:
            run = _edgeai_console(
                "bench", str(model), *args, "--target", server.address, "--token-file", str(server.token_file),
                "--json", cwd=cwd, timeout=timeout,
            )  # fmt: skip
        assert run.returncode == 0, run.stderr
        summary: dict[str, Any] = json.loads(run.stdout)
        assert summary["target"] == f"tcp {server.address}"
        return summary

    return bench


# -- user models: a two-input ONNX graph, and a real ONNX Runtime target ------------------------------------


def _two_input_onnx(path: Path, weight: Any, bias: Any, *, save: Callable[..., Any] | None = None) -> Path:
    """logits = concat(boxes (N, 4), scores (N, 2)) @ weight + bias, saved at ``path`` (opset 17)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [
            helper.make_node("Concat", ["boxes", "scores"], ["both"], axis=1),
            helper.make_node("Gemm", ["both", "W", "B"], ["logits"]),
        ],
        "two_inputs",
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 2]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    (save or onnx.save)(model, str(path))
    return path


@pytest.fixture(scope="session")
def two_input_onnx() -> Callable[..., Path]:
    return _two_input_onnx


@pytest.fixture
def onnx_target(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A real `edgeai serve --runtime onnxruntime --keep-models` subprocess: its listening event plus
    ``workdir`` and ``remote()``, which builds a connected-ready RemoteRuntime for it."""
    script = Path(sys.executable).parent / "edgeai"
    if not script.exists():
        pytest.skip("the edgeai console script is not installed next to this interpreter")
    workdir = tmp_path / "target"
    server = subprocess.Popen(
        [str(script), "serve", "--protocol", "tcp", "--runtime", "onnxruntime", "--port", "0",
         "--workdir", str(workdir), "--keep-models"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        listening = json.loads(server.stdout.readline())  # type: ignore[union-attr]
        assert listening["event"] == "listening" and listening["runtime"] == "onnxruntime"
        yield {**listening, "workdir": workdir, "remote": lambda: _remote_onnxruntime(listening["port"])}
    finally:
        server.kill()
        server.wait(timeout=30)


def _remote_onnxruntime(port: int) -> Any:
    import edgeai_core.plugin as core_plugin
    import edgeai_onnx.plugin as onnx_plugin
    from edgeai_core.components import Context
    from edgeai_core.remote import RemoteRuntime
    from edgeai_core.transports.tcp import TcpProtocol

    tcp = next(r for r in core_plugin.edgeai_register_protocols() if r.name == "tcp")
    runtime = next(r for r in onnx_plugin.edgeai_register_runtimes() if r.name == "onnxruntime")
    protocol = TcpProtocol(record=tcp, params={"host": "127.0.0.1", "port": port}, context=Context())
    return RemoteRuntime(record=runtime, params={}, protocol=protocol, requested={})
