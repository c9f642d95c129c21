"""The core's built-in components pass the plugin-author conformance kit (edgeai_core.testing)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeai_core.artifacts import Artifact, IOSpec, TensorSpec
from edgeai_core.builtins.echo import echo_artifact
from edgeai_core.errors import EdgeaiError
from edgeai_core.plugins import PluginHost
from edgeai_core.testing import (
    CompilerConformance,
    ContractViolation,
    DatasetConformance,
    ModelConformance,
    ProtocolConformance,
    RuntimeConformance,
    edgeai_plugin_host,  # noqa: F401  (a fixture: see the last test)
)

CORE = "edgeai_core.plugin"
BLOBS = {"classes": 3, "features": 6, "samples": 120, "separation": 3.0}
MLP = {"hidden": [8], "epochs": 3, "batch_size": 16}
TCP = {"host": "127.0.0.1", "port": 0, "timeout_s": 30.0}


class _Core:
    """The core's own plugin module, registered in-process."""

    plugin = CORE


class TestGaussianBlobs(_Core, DatasetConformance):
    component = "gaussian-blobs"
    params = BLOBS


class TestNumpyMlp(_Core, ModelConformance):
    component = "numpy-mlp"
    params = MLP
    dataset, dataset_params = "gaussian-blobs", BLOBS


class _TrainedMlp(_Core):
    """The artifact: the numpy MLP trained on the blobs."""

    model, model_params = "numpy-mlp", MLP
    dataset, dataset_params = "gaussian-blobs", BLOBS


class TestWeightInt8(_TrainedMlp, CompilerConformance):
    component = "weight-int8"
    runtime = "numpy"


class TestNumpyRuntime(_TrainedMlp, RuntimeConformance):
    component = "numpy"
    steps = (("weight-int8", {}),)

    def reference_outputs(
        self, host: PluginHost, artifact: Artifact, inputs: list[np.ndarray], dataset: Any, workdir: Path
    ) -> list[np.ndarray]:
        """The int8 weights dequantized by hand, the forward pass written out."""
        with np.load(artifact.path) as archive:
            h = inputs[0].reshape(len(inputs[0]), -1)
            for i in range(2):
                w = archive[f"layer{i}.weight"].astype(np.float32) * archive[f"layer{i}.scale"][None, :]
                h = h @ w + archive[f"layer{i}.bias"]
                if i == 0:
                    h = np.maximum(h, 0)
        return [h]


class TestEchoRuntime(_Core, RuntimeConformance):
    component = "echo"

    def make_artifact(self, host: PluginHost, workdir: Path, dataset: Any) -> Artifact:
        workdir.mkdir(parents=True, exist_ok=True)
        return echo_artifact(workdir / "echo.bin", [(None, 2, 3), (None, 5)])

    def reference_outputs(self, host: Any, artifact: Any, inputs: Any, dataset: Any, workdir: Any) -> Any:
        return inputs


class TestTcp(_Core, ProtocolConformance):
    component = "tcp"
    params = TCP


class TestSerial(_Core, ProtocolConformance):
    """Serial over two pseudo-terminal pairs joined by a relay (tests/core/support)."""

    component = "serial"
    link: Any = None

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def pty_link(cls) -> Iterator[Any]:
        pytest.importorskip("serial", reason="the serial transport needs pyserial (edgeai-core[serial])")
        sys.path.insert(0, str(Path(__file__).parent / "support"))
        try:
            from edgeai_wire_testing import PtyLink
        finally:
            sys.path.pop(0)
        link = PtyLink()
        cls.link = link
        yield link
        link.close()

    def listen_params(self) -> dict[str, Any]:
        return {"device": self.link.device_a if self.link else "/dev/null", "baudrate": 115200}

    def host_params(self, record: Any, address: Any) -> dict[str, Any]:
        return {"device": self.link.device_b, "baudrate": 115200}


# -- the kit catches what it is meant to catch -------------------------------------------------------------------


def _io(outputs: int = 1) -> IOSpec:
    return IOSpec(
        (TensorSpec("input", (None, 4), "float32"),),
        tuple(TensorSpec(f"out{i}", (None, 3), "float32") for i in range(outputs)),
    )


def test_an_array_instead_of_a_list_names_plugin_component_method_and_both_sides(
    core_host: PluginHost,
) -> None:
    from edgeai_core.testing.conformance import check_outputs

    case = TestNumpyRuntime()
    case.plugin = None  # the message names the provider found in the host
    with pytest.raises(ContractViolation) as caught:
        check_outputs(case, core_host, "Runtime.infer", np.zeros((2, 3), np.float32), _io(), 2)
    assert str(caught.value) == (
        "edgeai-core 0.1.0 (plugin 'core'), runtime 'numpy', Runtime.infer: returned ndarray float32 (2, 3); "
        "expected a list with one numpy array per output (1: out0)"
    )


def test_outputs_of_the_wrong_shape_or_dtype_are_named(core_host: PluginHost) -> None:
    from edgeai_core.testing.conformance import check_outputs

    case = TestNumpyRuntime()
    with pytest.raises(
        ContractViolation, match=r"output 'out1' as ndarray float32 \(2, 4\); expected shape \(2, 3\)"
    ):
        check_outputs(
            case,
            core_host,
            "Runtime.infer",
            [np.zeros((2, 3), np.float32)] * 1 + [np.zeros((2, 4), np.float32)],
            _io(2),
            2,
        )
    with pytest.raises(
        ContractViolation, match=r"output 'out0' as ndarray float64 \(2, 3\); expected dtype float32"
    ):
        check_outputs(case, core_host, "Runtime.infer", [np.zeros((2, 3))], _io(), 2)
    with pytest.raises(
        ContractViolation, match=r"returned list of 2 .*; expected 1 arrays, one per output \(out0\)"
    ):
        check_outputs(case, core_host, "Runtime.infer", [np.zeros((2, 3), np.float32)] * 2, _io(), 2)


def test_a_path_instead_of_an_artifact_is_named(core_host: PluginHost, tmp_path: Path) -> None:
    from edgeai_core.testing.conformance import check_artifact

    case = TestNumpyMlp()
    with pytest.raises(ContractViolation) as caught:
        check_artifact(case, core_host, "Model.prepare", tmp_path / "model.npz", "npz-mlp", tmp_path)
    assert str(caught.value).startswith(
        "edgeai-core 0.1.0 (plugin 'core'), model 'numpy-mlp', Model.prepare: returned PosixPath "
    )
    assert str(caught.value).endswith(
        "; expected an Artifact (format 'npz-mlp') written with Artifact(...).save()"
    )


def test_an_artifact_changed_after_save_is_caught(core_host: PluginHost, tmp_path: Path) -> None:
    from edgeai_core.testing.conformance import check_artifact

    artifact = echo_artifact(tmp_path / "m.bin", [(None, 4)])
    changed = Artifact(artifact.path, "echo", artifact.io, producer=artifact.producer, metadata={"late": 1})
    with pytest.raises(ContractViolation, match=r"sidecar reads back metadata=\{\}; expected \{'late': 1\}"):
        check_artifact(TestEchoRuntime(), core_host, "Model.prepare", changed, "echo", tmp_path)
    with pytest.raises(ContractViolation, match=r"an artifact in format 'echo'; expected format 'npz-mlp'"):
        check_artifact(TestEchoRuntime(), core_host, "Model.prepare", artifact, "npz-mlp", tmp_path)
    with pytest.raises(ContractViolation, match=r"expected a file inside context.workdir"):
        check_artifact(
            TestEchoRuntime(), core_host, "Model.prepare", artifact, "echo", tmp_path / "elsewhere"
        )


def test_a_metrics_dict_without_the_layout_is_caught(core_host: PluginHost) -> None:
    from edgeai_core.testing.conformance import check_quality

    case = TestGaussianBlobs()
    data: Any = None
    with pytest.raises(
        ContractViolation,
        match=r"returned a dict with keys \['accuracy'\]; expected the keys \['task', 'applicable'\] too",
    ):
        check_quality(case, core_host, {"accuracy": 0.5}, data)
    with pytest.raises(ContractViolation, match=r"a classification dict without \['num_samples'"):
        check_quality(case, core_host, {"task": "classification", "applicable": True, "accuracy": 0.5}, data)
    with pytest.raises(ContractViolation, match=r"applicable=False without a reason"):
        check_quality(case, core_host, {"task": "detection", "applicable": False}, data)


def test_plugin_host_helper_unregisters_after(tmp_path: Path) -> None:
    from edgeai_core.testing import plugin_host

    with plugin_host() as host:
        assert sorted(host.plugins) == ["core"]
        assert host.get("runtime", "numpy").provider == "edgeai-core"
    assert host.plugins == {}
    with pytest.raises(EdgeaiError):
        host.get("runtime", "numpy")


def test_importing_the_api_does_not_import_the_kit() -> None:
    import subprocess

    code = (
        "import edgeai_core, edgeai_core.api, sys; "
        "print('edgeai_core.testing' in sys.modules, 'pytest' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]


def test_a_registration_module_that_imports_its_factory_or_a_framework_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from edgeai_core.testing import plugin_host

    (tmp_path / "eager_impl.py").write_text("class Eager:\n    pass\n")
    (tmp_path / "fakeheavy.py").write_text("")
    (tmp_path / "eager_plugin.py").write_text(
        "from edgeai_core.api import RuntimeRecord, hookimpl\n"
        "import eager_impl\n"
        "import fakeheavy\n\n"
        "@hookimpl\n"
        "def edgeai_register_runtimes():\n"
        "    return [RuntimeRecord(name='eager', summary='s', factory='eager_impl:Eager', formats=('x',))]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    case: Any = type("Case", (RuntimeConformance,), {"plugin": "eager_plugin", "component": "eager"})()
    try:
        with plugin_host("eager_plugin") as host:
            record = host.get("runtime", "eager")
            with pytest.raises(ContractViolation) as caught:
                case.test_factory_is_imported_only_on_build(host, record)
            assert str(caught.value) == (
                "plugin 'eager_plugin', runtime 'eager', registration: importing eager_plugin and calling its hooks "
                "imported the factory module eager_impl; expected it to be imported only when the component is built"
            )
            (tmp_path / "eager_plugin.py").write_text(
                (tmp_path / "eager_plugin.py").read_text().replace("import eager_impl\n", "")
            )
            case.heavy_modules = ("fakeheavy",)
            with pytest.raises(
                ContractViolation, match=r"imported fakeheavy; a registration module must not"
            ):
                case.test_factory_is_imported_only_on_build(host, record)
    finally:
        for name in ("eager_plugin", "eager_impl", "fakeheavy"):
            sys.modules.pop(name, None)


def test_the_fixture_registers_plugin_objects_and_unregisters_them(edgeai_plugin_host: Any) -> None:  # noqa: F811
    from edgeai_core.api import RuntimeRecord, hookimpl

    class Extra:
        @hookimpl
        def edgeai_register_runtimes(self) -> list[RuntimeRecord]:
            return [RuntimeRecord(name="extra-rt", summary="s", factory="nowhere:Nothing", formats=("x",))]

    host = edgeai_plugin_host(Extra())
    assert sorted(host.plugins) == ["Extra", "core"]
    assert host.get("runtime", "extra-rt").provider == "Extra"
    assert host.names()["runtime"] == ["echo", "extra-rt", "numpy"]
