"""Conformance test classes: the contracts edgeai relies on, per component kind, for plugin authors to subclass.

Each class is a pytest test class without the ``Test`` prefix, so pytest collects only your subclass::

    class TestBlobs(DatasetConformance):
        plugin = "mypkg.plugin"
        component = "my-dataset"
        params = {"samples": 64}

Class attributes configure the checks; methods named ``make_*``/``*_params`` may be overridden where a config
needs files (a checkpoint to load, a serial link). Expensive things (a trained model, a compiled artifact) are
built once per class. Every failing check says which plugin, component and method, what came back and what
was expected.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import numpy as np
import pytest

from edgeai_core.artifacts import DTYPES, Artifact, IOSpec, TensorSpec
from edgeai_core.components import (
    SPLITS,
    Compiler,
    Component,
    Context,
    Converter,
    Dataset,
    Model,
    Protocol,
    ResourceProbe,
    Runtime,
    Split,
)
from edgeai_core.errors import EdgeaiError
from edgeai_core.plugins import PluginHost
from edgeai_core.records import RECORD_TYPES, Registration
from edgeai_core.testing.host import plugin_host

#: Modules a registration module must not import (listing and planning stay fast and framework free).
HEAVY_MODULES = (
    "torch",
    "tensorflow",
    "keras",
    "jax",
    "tvm",
    "onnxruntime",
    "onnx",
    "ray",
    "tflite_runtime",
    "ai_edge_litert",
)
#: The base class of each component kind.
COMPONENT_BASES: dict[str, type[Component]] = {
    "dataset": Dataset,
    "model": Model,
    "compiler": Compiler,
    "converter": Converter,
    "runtime": Runtime,
    "protocol": Protocol,
    "probe": ResourceProbe,
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
#: Seconds a network step of the protocol and remote checks may take before the check fails.
LINK_TIMEOUT_S = 30.0


class ContractViolation(AssertionError):
    """A component broke its contract; the message names plugin, component, method, what came and what was due."""


def describe(value: Any) -> str:
    """A short description of what a component returned, for failure messages."""
    if isinstance(value, np.ndarray):
        return f"ndarray {value.dtype} {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        items = ", ".join(describe(v) for v in value[:4]) + (", ..." if len(value) > 4 else "")
        return f"{type(value).__name__} of {len(value)} [{items}]"
    if isinstance(value, Artifact):
        return f"Artifact({value.path.name}, format {value.format!r})"
    if value is None or isinstance(value, (bool, int, float, str, Path)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__


def _json_normal(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


class ComponentConformance:
    """Checks every component kind shares: the registration record and building the component.

    ``plugin``: the plugin module (or its import path, or an object with hooks) registered in-process on a fresh
    host next to the core's built-ins; ``None`` discovers the installed plugins through their entry points (what
    a user's ``edgeai`` does). ``also``: further plugins the checks need (a dataset's plugin to train a model).
    ``component``: the name under test; ``params``: its parameters (override :meth:`component_params` to write
    files first).
    """

    kind: ClassVar[str] = ""
    plugin: ClassVar[Any] = None
    also: ClassVar[Sequence[Any]] = ()
    component: ClassVar[str] = ""
    params: ClassVar[Mapping[str, Any]] = {}
    seed: ClassVar[int] = 0
    heavy_modules: ClassVar[Sequence[str]] = HEAVY_MODULES

    # -- configuration hooks ------------------------------------------------------------------------

    def component_params(self, workdir: Path) -> dict[str, Any]:
        """The parameters the component is built with; override to create files in ``workdir`` first."""
        return dict(self.params)

    # -- helpers ----------------------------------------------------------------------------------------

    def where(self, host: PluginHost | None = None, method: str = "") -> str:
        """``edgeai-core (plugin 'core'), runtime 'numpy', Runtime.infer`` for messages."""
        provider = ""
        if host is not None:
            for info in host.plugin_infos():
                if any(r.kind == self.kind and r.name == self.component for r in info.components):
                    provider = info.label
                    break
        if not provider:
            plugin = self.plugin if isinstance(self.plugin, str) else getattr(self.plugin, "__name__", None)
            provider = f"plugin {plugin!r}" if plugin else "the installed plugins"
        text = f"{provider}, {self.kind} '{self.component}'"
        return f"{text}, {method}" if method else text

    def fail(self, host: PluginHost | None, method: str, got: str, expected: str) -> NoReturn:
        raise ContractViolation(f"{self.where(host, method)}: returned {got}; expected {expected}")

    def call(self, host: PluginHost | None, method: str, func: Any, *args: Any) -> Any:
        """Call a component method; an exception fails the check with the method named."""
        try:
            return func(*args)
        except Exception as exc:
            raise ContractViolation(
                f"{self.where(host, method)}: raised {type(exc).__name__}: {exc}"
            ) from exc

    @contextlib.contextmanager
    def open_host(self) -> Iterator[PluginHost]:
        if not self.component:
            raise ContractViolation(
                f"{type(self).__name__}: set the class attribute `component` to a {self.kind} name"
            )
        if self.plugin is None:
            yield PluginHost(env={})
            return
        with plugin_host(self.plugin, *self.also) as host:
            yield host

    def build(self, host: PluginHost, kind: str, name: str, params: Mapping[str, Any], workdir: Path) -> Any:
        """Build any component through the host (``record.create``) in ``workdir``."""
        workdir.mkdir(parents=True, exist_ok=True)
        record = host.get(kind, name)
        return record.create(params, where=kind, context=Context(workdir=workdir, seed=self.seed))

    # -- fixtures -------------------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_host(cls) -> Iterator[PluginHost]:
        """The plugin host the checks use (registered plugins are unregistered after the class)."""
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        with self.open_host() as host:
            yield host

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_workdir(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        return tmp_path_factory.mktemp(f"{self.kind}-{self.component}")

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_record(cls, edgeai_host: PluginHost) -> Registration:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        try:
            return edgeai_host.get(self.kind, self.component)
        except EdgeaiError as exc:
            broken = [f"{i.label}: {i.error}" for i in edgeai_host.plugin_infos() if i.status == "broken"]
            extra = f" (broken plugins: {'; '.join(broken)})" if broken else ""
            raise ContractViolation(f"{self.where(edgeai_host)}: not registered: {exc}{extra}") from None

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_component(
        cls, edgeai_host: PluginHost, edgeai_record: Registration, edgeai_workdir: Path
    ) -> Any:
        """The component under test, built once per class from the host with :meth:`component_params`."""
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        work = edgeai_workdir / "component"
        work.mkdir(exist_ok=True)
        params = self.component_params(work)
        try:
            component = edgeai_record.create(
                params, where=self.kind, context=Context(workdir=work, seed=self.seed)
            )
        except Exception as exc:
            raise ContractViolation(
                f"{self.where(edgeai_host, 'create')}: building it with {params!r} raised "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        yield component
        close = getattr(component, "close", None)
        if callable(close):
            with contextlib.suppress(Exception):
                close()

    # -- checks -----------------------------------------------------------------------------------------

    def test_plugin_loads(self, edgeai_host: PluginHost, edgeai_record: Registration) -> None:
        for info in edgeai_host.plugin_infos():
            if edgeai_record in info.components:
                assert info.status == "ok", f"{info.label} is {info.status}: {info.error}"
                return
        raise ContractViolation(f"{self.where(edgeai_host)}: no plugin lists the record")

    def test_record_is_valid(self, edgeai_host: PluginHost, edgeai_record: Registration) -> None:
        record = edgeai_record
        expected_type = RECORD_TYPES[self.kind]
        where = self.where(edgeai_host, "registration")
        assert isinstance(record, expected_type), (
            f"{where}: the record is a {type(record).__name__}; expected {expected_type.__name__}"
        )
        assert _NAME.match(record.name), (
            f"{where}: name {record.name!r} must be lowercase letters, digits, . - _"
        )
        assert record.summary.strip() and "\n" not in record.summary, f"{where}: summary must be one line"
        assert len(record.summary) <= 160, (
            f"{where}: summary has {len(record.summary)} characters; keep it <= 160"
        )
        assert record.provider, f"{where}: the host filled in no provider"
        assert [r.name for r in edgeai_host.records(self.kind)].count(record.name) == 1
        for what, data in (
            ("facts()", record.facts()),  # `edgeai list --json`
            (
                "params.json_schema()",
                record.params.json_schema(title=record.name),
            ),  # `edgeai describe --json`
        ):
            try:
                text = json.dumps(data, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ContractViolation(f"{where}: {what} is not JSON data ({exc})") from None
            if not isinstance(data, dict) or json.loads(text) != _json_normal(data):
                raise ContractViolation(f"{where}: {what} gave {data!r}; expected a JSON object")

    def test_params_are_declared(
        self, edgeai_host: PluginHost, edgeai_record: Registration, edgeai_workdir: Path
    ) -> None:
        params = self.component_params(edgeai_workdir / "params")
        declared = edgeai_record.params.names
        unknown = [k for k in params if k.replace("-", "_") not in declared]
        assert not unknown, (
            f"{self.where(edgeai_host, 'params')}: the test config sets {unknown}, which the record does not "
            f"declare (declared: {declared})"
        )
        edgeai_record.params.validate(params, self.kind)

    def test_factory_is_imported_only_on_build(
        self, edgeai_host: PluginHost, edgeai_record: Registration
    ) -> None:
        module = self._registration_module(edgeai_host, edgeai_record)
        if module is None:
            pytest.skip(
                "the plugin is not an importable module, so its import cannot be checked in a fresh process"
            )
        found = _probe_registration(module, tuple(self.heavy_modules))
        factory_module = edgeai_record.factory.partition(":")[0]
        where = self.where(edgeai_host, "registration")
        if factory_module == module:
            raise ContractViolation(
                f"{where}: factory {edgeai_record.factory!r} lives in the registration module {module}; put the "
                "implementation in its own module so listing and planning never import it"
            )
        if factory_module in found["imported"]:
            raise ContractViolation(
                f"{where}: importing {module} and calling its hooks imported the factory module "
                f"{factory_module}; expected it to be imported only when the component is built"
            )
        if found["heavy"]:
            raise ContractViolation(
                f"{where}: importing {module} and calling its hooks imported {', '.join(found['heavy'])}; "
                "a registration module must not import heavy frameworks"
            )

    def test_factory_builds_the_base_class(
        self, edgeai_host: PluginHost, edgeai_record: Registration
    ) -> None:
        factory = self.call(edgeai_host, "record.load", edgeai_record.load)
        base = COMPONENT_BASES[self.kind]
        if isinstance(factory, type) and not issubclass(factory, base):
            self.fail(
                edgeai_host, "record.load", f"class {factory.__name__}", f"a subclass of {base.__name__}"
            )

    def test_builds_from_the_host(
        self, edgeai_host: PluginHost, edgeai_record: Registration, edgeai_component: Any
    ) -> None:
        base = COMPONENT_BASES[self.kind]
        if not isinstance(edgeai_component, base):
            self.fail(edgeai_host, "create", describe(edgeai_component), f"a {base.__name__}")
        assert isinstance(edgeai_component, Component)
        assert edgeai_component.record == edgeai_record, (
            f"{self.where(edgeai_host, 'create')}: record not kept"
        )
        versions = self.call(edgeai_host, f"{base.__name__}.versions", edgeai_component.versions)
        if not isinstance(versions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in versions.items()
        ):
            self.fail(edgeai_host, f"{base.__name__}.versions", describe(versions), "a dict of str to str")

    def _registration_module(self, host: PluginHost, record: Registration) -> str | None:
        for info in host.plugin_infos():
            if record in info.components:
                module = info.module.partition(":")[0]
                return module if _importable(module) else None
        return None


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_PROBE = """
import importlib, inspect, json, sys
name, heavy = sys.argv[1], sys.argv[2].split(",")
before = set(sys.modules)
module = importlib.import_module(name)
factories = set()
for attr in dir(module):
    func = getattr(module, attr)
    if not attr.startswith("edgeai_register_") or not callable(func):
        continue
    if any(p.default is p.empty for p in inspect.signature(func).parameters.values()):
        continue  # a hook that receives something (edgeai_register_commands(cli)) returns no records
    for record in func() or []:
        factory = getattr(record, "factory", "")
        if factory:
            factories.add(factory.partition(":")[0])
print(json.dumps({
    "imported": sorted(m for m in factories if m in sys.modules and m not in before),
    "heavy": sorted(m for m in heavy if m in sys.modules),
}))
"""
_probe_cache: dict[tuple[str, tuple[str, ...]], dict[str, list[str]]] = {}


def _probe_registration(module: str, heavy: tuple[str, ...]) -> dict[str, list[str]]:
    """Import ``module`` in a fresh interpreter, call its registration hooks, report what got imported."""
    key = (module, heavy)
    if key not in _probe_cache:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, module, ",".join(heavy)],
            capture_output=True, text=True, env=env, timeout=120, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise ContractViolation(
                f"importing {module} in a fresh interpreter failed:\n{done.stderr[-2000:]}"
            )
        _probe_cache[key] = json.loads(done.stdout.strip().splitlines()[-1])
    return _probe_cache[key]


# -- datasets ------------------------------------------------------------------------------------------


class DatasetConformance(ComponentConformance):
    """``Dataset``: ``prepare`` then deterministic ``split`` s whose inputs and targets align, calibration inputs
    shaped like the training inputs, and an ``evaluate`` whose metrics dict has the layout of its task.

    ``required_splits``: splits that must hold samples (``validation`` may be empty). ``io_spec``: for datasets
    that draw inputs to fit a model (``use_io_spec``), the spec to give them.
    """

    kind = "dataset"
    required_splits: ClassVar[Sequence[str]] = ("train", "test")
    io_spec: ClassVar[IOSpec | None] = None

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_dataset(cls, edgeai_host: PluginHost, edgeai_component: Dataset) -> Dataset:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        self.call(edgeai_host, "Dataset.prepare", edgeai_component.prepare)
        if self.io_spec is not None:
            self.call(edgeai_host, "Dataset.use_io_spec", edgeai_component.use_io_spec, self.io_spec)
        return edgeai_component

    def test_splits_align(self, edgeai_host: PluginHost, edgeai_dataset: Dataset) -> None:
        shapes = set()
        for name in SPLITS:
            method = f"Dataset.split({name!r})"
            split = self.call(edgeai_host, method, edgeai_dataset.split, name)
            if not isinstance(split, Split):
                self.fail(edgeai_host, method, describe(split), "a Split(inputs, targets)")
            arrays = split.inputs if isinstance(split.inputs, Mapping) else {}
            if (
                not arrays
                or not all(isinstance(a, np.ndarray) for a in arrays.values())
                or not isinstance(split.targets, np.ndarray)
            ):
                inputs = {k: describe(v) for k, v in arrays.items()} if arrays else describe(split.inputs)
                self.fail(
                    edgeai_host, method, f"Split({inputs}, {describe(split.targets)})",
                    "a mapping input name -> numpy array, and numpy array targets",
                )  # fmt: skip
            for key, array in arrays.items():
                if array.ndim < 1 or len(array) != len(split.targets):
                    self.fail(
                        edgeai_host, method,
                        f"input '{key}' {tuple(array.shape)} and targets {tuple(split.targets.shape)}",
                        "one target per sample of every input (the same length along axis 0)",
                    )  # fmt: skip
                if array.dtype.name not in DTYPES:
                    self.fail(
                        edgeai_host, method, f"input '{key}' of dtype {array.dtype}", f"one of {DTYPES}"
                    )
            if name in self.required_splits and len(split) == 0:
                self.fail(edgeai_host, method, "an empty split", "samples (required_splits)")
            if len(split):
                shapes.add(tuple((k, tuple(a.shape[1:])) for k, a in arrays.items()))
        assert len(shapes) <= 1, (
            f"{self.where(edgeai_host, 'Dataset.split')}: splits differ in sample shape {shapes}"
        )

    def test_splits_are_deterministic(
        self,
        edgeai_host: PluginHost,
        edgeai_dataset: Dataset,
        edgeai_record: Registration,
        edgeai_workdir: Path,
    ) -> None:
        work = edgeai_workdir / "again"
        again = self.build(edgeai_host, self.kind, self.component, self.component_params(work), work)
        self.call(edgeai_host, "Dataset.prepare", again.prepare)
        if self.io_spec is not None:
            again.use_io_spec(self.io_spec)
        for name in SPLITS:
            first, second = edgeai_dataset.split(name), again.split(name)
            same = (
                list(first.inputs) == list(second.inputs)
                and all(np.array_equal(first.inputs[k], second.inputs[k]) for k in first.inputs)
                and same_targets(first.targets, second.targets)
            )
            assert same, (
                f"{self.where(edgeai_host, f'Dataset.split({name!r})')}: two builds with seed {self.seed} gave "
                "different samples; expected the same split every time"
            )

    def test_unknown_split_is_an_error(self, edgeai_host: PluginHost, edgeai_dataset: Dataset) -> None:
        with pytest.raises(EdgeaiError):
            edgeai_dataset.split("no-such-split")

    def test_class_names_fit_targets(self, edgeai_host: PluginHost, edgeai_dataset: Dataset) -> None:
        if edgeai_dataset.task in ("detection", "segmentation"):
            from edgeai_core.tasks import check_box_targets, check_masks

            names = edgeai_dataset.class_names
            for split_name in SPLITS:
                targets = edgeai_dataset.split(split_name).targets
                try:
                    if edgeai_dataset.task == "detection":
                        check_box_targets(targets, len(names), f"split {split_name}")
                    else:
                        check_masks(targets, len(names), f"split {split_name}")
                except EdgeaiError as exc:
                    self.fail(edgeai_host, f"Dataset.split({split_name!r})", str(exc),
                              f"{edgeai_dataset.task} targets in edgeai_core.tasks' format")  # fmt: skip
            return
        if edgeai_dataset.task != "classification" or not edgeai_dataset.has_labels:
            pytest.skip(f"task {edgeai_dataset.task!r} with labels={edgeai_dataset.has_labels}")
        names = edgeai_dataset.class_names
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.fail(edgeai_host, "Dataset.class_names", describe(names), "a non-empty list of str")
        for split_name in SPLITS:
            targets = edgeai_dataset.split(split_name).targets
            if not len(targets):
                continue
            if targets.dtype.kind not in "iu":
                self.fail(edgeai_host, f"Dataset.split({split_name!r})", f"targets of dtype {targets.dtype}",
                          "integer class labels")  # fmt: skip
            if targets.min() < 0 or targets.max() >= len(names):
                self.fail(
                    edgeai_host, f"Dataset.split({split_name!r})",
                    f"labels in [{targets.min()}, {targets.max()}]", f"labels in [0, {len(names)}) (class_names)",
                )  # fmt: skip

    def test_calibration_inputs(self, edgeai_host: PluginHost, edgeai_dataset: Dataset) -> None:
        train = edgeai_dataset.split("train")
        if not len(train):
            pytest.skip("no training samples")
        got = self.call(edgeai_host, "Dataset.calibration_samples", edgeai_dataset.calibration_samples, 4)
        want = {k: tuple(v.shape[1:]) for k, v in train.inputs.items()}
        if (
            not isinstance(got, Mapping)
            or not all(isinstance(v, np.ndarray) for v in got.values())
            or len(got) != len(want)
            or (len(want) > 1 and set(got) != set(want))
            or sorted(tuple(v.shape[1:]) for v in got.values()) != sorted(want.values())
            or len({len(v) for v in got.values()}) != 1
            or not 0 < len(next(iter(got.values()))) <= 4
        ):
            shown = {k: describe(v) for k, v in got.items()} if isinstance(got, Mapping) else describe(got)
            self.fail(
                edgeai_host, "Dataset.calibration_samples(4)", str(shown),
                f"1 to 4 samples of each input shaped like the training inputs {want}",
            )  # fmt: skip

    def test_evaluate_has_the_task_layout(self, edgeai_host: PluginHost, edgeai_dataset: Dataset) -> None:
        split = edgeai_dataset.split("test")
        if not len(split):
            pytest.skip("no test samples")
        outputs: Any
        if edgeai_dataset.task == "classification" and edgeai_dataset.has_labels:
            classes = max(len(edgeai_dataset.class_names), int(split.targets.max()) + 1)
            outputs = np.eye(classes, dtype=np.float32)[split.targets]  # perfect scores
        elif edgeai_dataset.task == "detection":
            from edgeai_core.tasks import Detections

            outputs = [Detections(t.boxes, np.ones(len(t)), t.labels) for t in split.targets]  # perfect boxes
        elif edgeai_dataset.task == "segmentation":
            from edgeai_core.tasks import IGNORE_INDEX

            outputs = np.where(split.targets == IGNORE_INDEX, 0, split.targets)  # perfect masks
        else:
            outputs = np.zeros((len(split), 1), np.float32)
        metrics = self.call(edgeai_host, "Dataset.evaluate", edgeai_dataset.evaluate, outputs, split.targets)
        check_quality(self, edgeai_host, metrics, edgeai_dataset)
        perfect = {"detection": "map", "segmentation": "miou"}.get(str(metrics.get("task")))
        if perfect and metrics.get("applicable"):
            assert metrics[perfect] == 1.0, (
                f"{self.where(edgeai_host, 'Dataset.evaluate')}: the true boxes or masks as predictions gave "
                f"{perfect} {metrics[perfect]}; expected 1.0"
            )
        if metrics.get("task") == "classification" and metrics.get("applicable"):
            assert metrics["accuracy"] == 1.0, (
                f"{self.where(edgeai_host, 'Dataset.evaluate')}: perfect scores gave accuracy "
                f"{metrics['accuracy']}; expected 1.0"
            )


def same_targets(first: np.ndarray, second: np.ndarray) -> bool:
    """Equal split targets: arrays, or object arrays of detection ``BoxTargets`` compared field by field."""
    from edgeai_core.tasks import BoxTargets

    if first.dtype != object or second.dtype != object:
        return bool(np.array_equal(first, second))
    if len(first) != len(second):
        return False
    for a, b in zip(first, second, strict=True):
        if isinstance(a, BoxTargets) and isinstance(b, BoxTargets):
            if a.image_size != b.image_size or not all(
                np.array_equal(np.asarray(x), np.asarray(y))
                for x, y in ((a.boxes, b.boxes), (a.labels, b.labels), (a.iscrowd, b.iscrowd))
            ):
                return False
        elif a != b:
            return False
    return True


#: Keys of a classification metrics dict (see edgeai_core.metrics.classification_metrics).
CLASSIFICATION_KEYS = (
    "task", "applicable", "num_samples", "num_classes", "class_names", "accuracy", "top5_accuracy",
    "top_k", "confusion_matrix", "per_class", "mean_precision", "mean_sensitivity", "g_mean",
)  # fmt: skip


def check_quality(case: ComponentConformance, host: PluginHost, metrics: Any, dataset: Dataset) -> None:
    """The metrics dict layout the measurement document (and its schema) expects."""
    method = "Dataset.evaluate"
    if not isinstance(metrics, dict):
        case.fail(host, method, describe(metrics), "a dict with at least 'task' and 'applicable'")
    missing = [k for k in ("task", "applicable") if k not in metrics]
    if missing:
        case.fail(host, method, f"a dict with keys {sorted(metrics)}", f"the keys {missing} too")
    if not isinstance(metrics["applicable"], bool):
        case.fail(host, method, f"applicable={metrics['applicable']!r}", "applicable to be true or false")
    if not metrics["applicable"] and not isinstance(metrics.get("reason"), str):
        case.fail(host, method, "applicable=False without a reason", "a 'reason' string saying why")
    if metrics["task"] == "classification" and metrics["applicable"]:
        absent = [k for k in CLASSIFICATION_KEYS if k not in metrics]
        if absent:
            case.fail(
                host, method, f"a classification dict without {absent}", f"every key of {CLASSIFICATION_KEYS}"
            )
    try:
        json.dumps(metrics, allow_nan=False)
    except (TypeError, ValueError) as exc:
        case.fail(host, method, f"metrics that are not JSON ({exc})", "JSON data without NaN (use None)")


# -- artifacts -------------------------------------------------------------------------------------------


def check_artifact(
    case: ComponentConformance, host: PluginHost, method: str, artifact: Any, fmt: str, workdir: Path
) -> Artifact:
    """An Artifact in ``fmt`` inside ``workdir`` with an IO spec, whose sidecar reads back the same."""
    if not isinstance(artifact, Artifact):
        case.fail(
            host,
            method,
            describe(artifact),
            f"an Artifact (format {fmt!r}) written with Artifact(...).save()",
        )
    if artifact.format != fmt:
        case.fail(
            host, method, f"an artifact in format {artifact.format!r}", f"format {fmt!r} (the record's)"
        )
    if not isinstance(artifact.io, IOSpec) or not artifact.io.inputs or not artifact.io.outputs:
        case.fail(
            host, method, f"an artifact with IO spec {artifact.io!r}", "an IOSpec with inputs and outputs"
        )
    if not artifact.path.exists():
        case.fail(
            host, method, f"an artifact whose file {artifact.path} does not exist", "the model file written"
        )
    try:
        artifact.path.resolve().relative_to(workdir.resolve())
    except ValueError:
        case.fail(
            host, method, f"an artifact at {artifact.path}", f"a file inside context.workdir ({workdir})"
        )
    if not artifact.sidecar.is_file():
        case.fail(
            host, method, f"an artifact without sidecar {artifact.sidecar.name}", "Artifact.save() called"
        )
    loaded = Artifact.load(artifact.path)
    expected = {
        "format": artifact.format, "io": artifact.io, "producer": artifact.producer,
        "versions": _json_normal(dict(artifact.versions)), "metadata": _json_normal(dict(artifact.metadata)),
    }  # fmt: skip
    got = {
        "format": loaded.format, "io": loaded.io, "producer": loaded.producer,
        "versions": dict(loaded.versions), "metadata": dict(loaded.metadata),
    }  # fmt: skip
    for key, value in expected.items():
        if got[key] != value:
            case.fail(
                host, method, f"an artifact whose sidecar reads back {key}={got[key]!r}",
                f"{value!r} (call .save() after the last change)",
            )  # fmt: skip
    for tensor in (*artifact.io.inputs, *artifact.io.outputs):
        if not tensor.shape:
            case.fail(host, method, f"tensor {tensor.name!r} with shape ()", "a batch axis first")
    return artifact


class _ArtifactSource(ComponentConformance):
    """How the checks get an artifact to compile, convert or run: a model (trained on a dataset or loaded),
    then ``steps`` (compiler or converter names with parameters), in order. Override :meth:`make_artifact` to
    build one yourself."""

    model: ClassVar[str] = ""
    model_params: ClassVar[Mapping[str, Any]] = {}
    dataset: ClassVar[str] = ""
    dataset_params: ClassVar[Mapping[str, Any]] = {}
    steps: ClassVar[Sequence[tuple[str, Mapping[str, Any]]]] = ()
    #: Set by :meth:`make_artifact`: the model's artifact and the artifact after each step.
    chain: ClassVar[list[Artifact]] = []

    def model_config(self, workdir: Path) -> dict[str, Any]:
        """The model's parameters; override to write a file for a load-only model (``checkpoint``, ``path``)."""
        return dict(self.model_params)

    def make_dataset(self, host: PluginHost, workdir: Path) -> Dataset | None:
        if not self.dataset:
            return None
        data = self.build(host, "dataset", self.dataset, self.dataset_params, workdir / "dataset")
        data.prepare()
        return data

    def run_steps(
        self,
        host: PluginHost,
        artifact: Artifact,
        steps: Sequence[tuple[str, Mapping[str, Any]]],
        dataset: Dataset | None,
        workdir: Path,
    ) -> Artifact:
        """``artifact`` through ``steps`` in order; every intermediate artifact lands in :attr:`chain`."""
        chain = [artifact]
        for index, (name, params) in enumerate(steps):
            kinds = [r.kind for r in host.find(name) if r.kind in ("compiler", "converter")]
            if not kinds:
                raise ContractViolation(f"step {name!r}: no compiler or converter of that name is registered")
            step = self.build(host, kinds[0], name, params, workdir / f"step{index}-{name}")
            if kinds[0] == "compiler":
                artifact = step.compile(artifact, dataset if step.record.needs_dataset else None)
            else:
                artifact = step.convert(artifact)
            chain.append(artifact)
        type(self).chain = chain
        return artifact

    def make_artifact(self, host: PluginHost, workdir: Path, dataset: Dataset | None) -> Artifact:
        """The input artifact: ``model`` prepared (on ``dataset``), then ``steps``."""
        if not self.model:
            raise ContractViolation(
                f"{type(self).__name__}: set `model` (and `dataset`, `steps`) or override make_artifact()"
            )
        model = self.build(host, "model", self.model, self.model_config(workdir / "model"), workdir / "model")
        artifact = model.prepare(dataset)
        if dataset is not None:
            dataset.use_io_spec(artifact.io)  # as the runner does, for datasets drawn to fit the model
        return self.run_steps(host, artifact, self.steps, dataset, workdir)

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_dataset(cls, edgeai_host: PluginHost, edgeai_workdir: Path) -> Dataset | None:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        return self.make_dataset(edgeai_host, edgeai_workdir / "source")

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_artifact(
        cls, edgeai_host: PluginHost, edgeai_workdir: Path, edgeai_dataset: Dataset | None
    ) -> Artifact:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        artifact = self.make_artifact(edgeai_host, edgeai_workdir / "source", edgeai_dataset)
        assert isinstance(artifact, Artifact), f"make_artifact returned {describe(artifact)}, not an Artifact"
        return artifact

    def sample_inputs(self, io: IOSpec, dataset: Dataset | None, batch: int) -> list[np.ndarray]:
        """A batch from the dataset's test split, else seeded random inputs shaped by the IO spec."""
        if dataset is not None:
            test = dataset.split("test")
            if len(test) and (len(io.inputs) == 1 or all(spec.name in test.inputs for spec in io.inputs)):
                return [np.ascontiguousarray(a[:batch]) for a in test.arrays(io)]
        return random_inputs(io, batch, self.seed)


def random_inputs(io: IOSpec, batch: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in io.inputs:
        shape = spec.concrete_shape(batch)
        dtype = np.dtype("float32" if spec.dtype == "bfloat16" else spec.dtype)
        if dtype.kind == "b":
            arrays.append(rng.integers(0, 2, size=shape).astype(bool))
        elif dtype.kind in "iu":
            arrays.append(rng.integers(0, 10, size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


# -- models ------------------------------------------------------------------------------------------------


class ModelConformance(_ArtifactSource):
    """``Model.prepare`` returns an Artifact in the record's format, inside ``context.workdir``, with an IO spec
    whose sidecar reads back the same, and inputs the dataset's samples fit. ``dataset`` (with
    ``dataset_params``) is what it trains on; leave it empty for a load-only model and set ``params`` (override
    :meth:`component_params` to write the file to load)."""

    kind = "model"

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_prepared(
        cls, edgeai_host: PluginHost, edgeai_component: Any, edgeai_dataset: Dataset | None
    ) -> Artifact:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        artifact = self.call(edgeai_host, "Model.prepare", edgeai_component.prepare, edgeai_dataset)
        return check_artifact(
            self, edgeai_host, "Model.prepare", artifact, edgeai_component.record.format,
            edgeai_component.context.workdir,
        )  # fmt: skip

    def test_prepare_returns_an_artifact(self, edgeai_prepared: Artifact) -> None:
        assert edgeai_prepared.size_bytes > 0

    def test_inputs_fit_the_dataset(
        self, edgeai_host: PluginHost, edgeai_prepared: Artifact, edgeai_dataset: Dataset | None
    ) -> None:
        if edgeai_dataset is None:
            pytest.skip("no dataset configured")
        arrays = edgeai_dataset.split("test").arrays(edgeai_prepared.io)
        for spec, array in zip(edgeai_prepared.io.inputs, arrays, strict=False):
            sample, want = array.shape[1:], spec.shape[1:]
            fits = len(want) == len(sample) and all(
                not isinstance(w, int) or w == s for w, s in zip(want, sample, strict=True)
            )
            if not fits:
                self.fail(
                    edgeai_host, "Model.prepare", f"an IO spec whose input '{spec.name}' takes {want} per sample",
                    f"the dataset's sample shape {tuple(sample)}",
                )  # fmt: skip

    def test_task_is_declared(
        self, edgeai_host: PluginHost, edgeai_record: Any, edgeai_dataset: Dataset | None
    ) -> None:
        if edgeai_dataset is None:
            pytest.skip("no dataset configured")
        tasks = tuple(edgeai_record.tasks)
        assert edgeai_dataset.task in tasks or "any" in tasks or edgeai_dataset.task == "any", (
            f"{self.where(edgeai_host, 'registration')}: tasks {tasks} do not include the dataset's task "
            f"{edgeai_dataset.task!r}"
        )

    def test_untrainable_model_refuses_train(
        self,
        edgeai_host: PluginHost,
        edgeai_record: Any,
        edgeai_component: Any,
        edgeai_dataset: Dataset | None,
    ) -> None:
        if edgeai_record.trainable:
            pytest.skip("the model is trainable (prepare trains it)")
        if edgeai_dataset is None:
            pytest.skip("no dataset configured")
        with pytest.raises(EdgeaiError):
            edgeai_component.train(edgeai_dataset)


# -- compilers and converters --------------------------------------------------------------------------------


class _Transform(_ArtifactSource):
    """Shared checks of compilers and converters. ``runtime``/``runtime_params``: when set, the output must load
    there and give outputs shaped by its IO spec."""

    runtime: ClassVar[str] = ""
    runtime_params: ClassVar[Mapping[str, Any]] = {}
    method: ClassVar[str] = ""

    def input_formats(self, record: Any) -> tuple[str, ...]:
        raise NotImplementedError

    def transform(self, component: Any, artifact: Artifact, dataset: Dataset | None) -> Any:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_output(
        cls,
        edgeai_host: PluginHost,
        edgeai_component: Any,
        edgeai_artifact: Artifact,
        edgeai_dataset: Dataset | None,
    ) -> tuple[Artifact, str]:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        formats = self.input_formats(edgeai_component.record)
        if edgeai_artifact.format not in formats:
            raise ContractViolation(
                f"{type(self).__name__}: the test artifact is {edgeai_artifact.format}, but {self.kind} "
                f"'{self.component}' takes {', '.join(formats)}; fix model/steps"
            )
        digest = edgeai_artifact.sha256()
        out = self.call(
            edgeai_host, self.method, self.transform, edgeai_component, edgeai_artifact, edgeai_dataset
        )
        out = check_artifact(
            self,
            edgeai_host,
            self.method,
            out,
            edgeai_component.record.output_format,
            edgeai_component.context.workdir,
        )
        return out, digest

    def test_returns_an_artifact_in_the_output_format(self, edgeai_output: tuple[Artifact, str]) -> None:
        assert edgeai_output[0].size_bytes > 0

    def test_input_artifact_is_unchanged(
        self, edgeai_host: PluginHost, edgeai_output: tuple[Artifact, str], edgeai_artifact: Artifact
    ) -> None:
        out, digest = edgeai_output
        assert out.path.resolve() != edgeai_artifact.path.resolve(), (
            f"{self.where(edgeai_host, self.method)}: returned the input's own path; expected a new file"
        )
        assert edgeai_artifact.sha256() == digest, (
            f"{self.where(edgeai_host, self.method)}: changed its input artifact {edgeai_artifact.path.name}; "
            "expected it untouched"
        )

    def test_output_runs(
        self, edgeai_host: PluginHost, edgeai_output: tuple[Artifact, str], edgeai_dataset: Dataset | None,
        edgeai_workdir: Path,
    ) -> None:  # fmt: skip
        if not self.runtime:
            pytest.skip("no runtime configured to run the output")
        out = edgeai_output[0]
        runtime = self.build(
            edgeai_host, "runtime", self.runtime, self.runtime_params, edgeai_workdir / "run"
        )
        try:
            runtime.load(out)
            inputs = self.sample_inputs(out.io, edgeai_dataset, 2)
            outputs = runtime.infer(inputs)
            check_outputs(
                self,
                edgeai_host,
                f"Runtime.infer ({self.runtime}, on the output)",
                outputs,
                out.io,
                len(inputs[0]),
            )
        finally:
            runtime.close()


class CompilerConformance(_Transform):
    """``Compiler.compile`` returns a new Artifact in the record's ``output_format`` (its input untouched), given
    the dataset when the record says ``needs_dataset``."""

    kind = "compiler"
    method = "Compiler.compile"

    def input_formats(self, record: Any) -> tuple[str, ...]:
        return tuple(record.input_formats)

    def transform(self, component: Any, artifact: Artifact, dataset: Dataset | None) -> Any:
        return component.compile(artifact, dataset if component.record.needs_dataset else None)


class ConverterConformance(_Transform):
    """``Converter.convert`` returns a new Artifact in the record's ``output_format`` (its input untouched)."""

    kind = "converter"
    method = "Converter.convert"

    def input_formats(self, record: Any) -> tuple[str, ...]:
        return (record.input_format,)

    def transform(self, component: Any, artifact: Artifact, dataset: Dataset | None) -> Any:
        return component.convert(artifact)


# -- runtimes ------------------------------------------------------------------------------------------------


def check_outputs(
    case: ComponentConformance, host: PluginHost, method: str, outputs: Any, io: IOSpec, batch: int
) -> list[np.ndarray]:
    """A list with one array per IO-spec output, of its dtype and shape (dynamic dimensions free)."""
    names = ", ".join(t.name for t in io.outputs)
    if not isinstance(outputs, list):
        case.fail(
            host,
            method,
            describe(outputs),
            f"a list with one numpy array per output ({len(io.outputs)}: {names})",
        )
    if len(outputs) != len(io.outputs):
        case.fail(host, method, describe(outputs), f"{len(io.outputs)} arrays, one per output ({names})")
    for array, spec in zip(outputs, io.outputs, strict=True):
        if not isinstance(array, np.ndarray):
            case.fail(host, method, f"{describe(array)} for output {spec.name!r}", "a numpy array")
        if array.dtype.name != spec.dtype:
            case.fail(
                host,
                method,
                f"output {spec.name!r} as {describe(array)}",
                f"dtype {spec.dtype} (the IO spec)",
            )
        expected = tuple(batch if i == 0 and not isinstance(d, int) else d for i, d in enumerate(spec.shape))
        fits = len(expected) == array.ndim and all(
            not isinstance(d, int) or d < 0 or d == n for d, n in zip(expected, array.shape, strict=True)
        )
        if not fits:
            case.fail(host, method, f"output {spec.name!r} as {describe(array)}",
                      f"shape {expected} (the IO spec, batch {batch})")  # fmt: skip
    return outputs


class RuntimeConformance(_ArtifactSource):
    """``Runtime.load`` then ``infer`` returns a list with one array per IO-spec output of the declared dtypes and
    shapes, the same for the same inputs; a format it does not declare is refused with an EdgeaiError; served by
    ``edgeai serve`` (in-process, over TCP on loopback) it gives the outputs it gives locally.

    The artifact comes from ``model`` + ``steps`` (or :meth:`make_artifact`). ``reference_runtime`` (with
    ``reference_params`` and ``reference_steps``, default the same steps) gives reference outputs the runtime must
    match within ``rtol``/``atol``; or override :meth:`reference_outputs`. ``batch_size``: samples per inference.
    ``remote``: run the served-over-the-wire check (single-file artifacts only).
    """

    kind = "runtime"
    batch_size: ClassVar[int] = 4
    deterministic: ClassVar[bool] = True
    reference_runtime: ClassVar[str] = ""
    reference_params: ClassVar[Mapping[str, Any]] = {}
    reference_steps: ClassVar[Sequence[tuple[str, Mapping[str, Any]]] | None] = None
    rtol: ClassVar[float] = 1e-5
    atol: ClassVar[float] = 1e-5
    remote: ClassVar[bool] = True

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_loaded(
        cls, edgeai_host: PluginHost, edgeai_component: Runtime, edgeai_artifact: Artifact
    ) -> Runtime:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        self.call(edgeai_host, "Runtime.load", edgeai_component.load, edgeai_artifact)
        return edgeai_component

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_inputs(cls, edgeai_artifact: Artifact, edgeai_dataset: Dataset | None) -> list[np.ndarray]:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        return self.sample_inputs(edgeai_artifact.io, edgeai_dataset, self.batch_size)

    @pytest.fixture(scope="class")
    @classmethod
    def edgeai_outputs(
        cls,
        edgeai_host: PluginHost,
        edgeai_loaded: Runtime,
        edgeai_inputs: list[np.ndarray],
        edgeai_artifact: Artifact,
    ) -> list[np.ndarray]:
        self = cls()  # an instance for the helpers; the configuration is in class attributes
        outputs = self.call(edgeai_host, "Runtime.infer", edgeai_loaded.infer, edgeai_inputs)
        outputs = check_outputs(
            self, edgeai_host, "Runtime.infer", outputs, edgeai_artifact.io, len(edgeai_inputs[0])
        )
        return [np.array(o, copy=True) for o in outputs]

    def test_infer_returns_one_array_per_output(self, edgeai_outputs: list[np.ndarray]) -> None:
        assert all(o.size for o in edgeai_outputs)

    def test_io_matches_the_artifact(
        self, edgeai_host: PluginHost, edgeai_loaded: Runtime, edgeai_artifact: Artifact
    ) -> None:
        io = self.call(edgeai_host, "Runtime.io", lambda: edgeai_loaded.io)
        if not isinstance(io, IOSpec):
            self.fail(edgeai_host, "Runtime.io", describe(io), "the IOSpec of the loaded model")
        if len(io.inputs) != len(edgeai_artifact.io.inputs) or len(io.outputs) != len(
            edgeai_artifact.io.outputs
        ):
            counts = f"{len(edgeai_artifact.io.inputs)} and {len(edgeai_artifact.io.outputs)}"
            self.fail(
                edgeai_host,
                "Runtime.io",
                f"{len(io.inputs)} inputs, {len(io.outputs)} outputs",
                f"the artifact's {counts}",
            )

    def test_same_inputs_same_outputs(
        self, edgeai_host: PluginHost, edgeai_loaded: Runtime, edgeai_inputs: list[np.ndarray],
        edgeai_outputs: list[np.ndarray],
    ) -> None:  # fmt: skip
        if not self.deterministic:
            pytest.skip("deterministic = False")
        again = self.call(edgeai_host, "Runtime.infer", edgeai_loaded.infer, edgeai_inputs)
        for first, second, spec in zip(edgeai_outputs, again, edgeai_loaded.io.outputs, strict=False):
            assert np.array_equal(first, np.asarray(second)), (
                f"{self.where(edgeai_host, 'Runtime.infer')}: output {spec.name!r} differs between two calls on the "
                "same inputs; expected the same values (set deterministic = False if that is by design)"
            )

    def test_bind_runs(
        self, edgeai_host: PluginHost, edgeai_loaded: Runtime, edgeai_inputs: list[np.ndarray]
    ) -> None:
        run = self.call(edgeai_host, "Runtime.bind", edgeai_loaded.bind, edgeai_inputs)
        if not callable(run):
            self.fail(
                edgeai_host, "Runtime.bind", describe(run), "a no-argument callable doing the timed work"
            )
        self.call(edgeai_host, "the callable from Runtime.bind", run)
        self.call(edgeai_host, "the callable from Runtime.bind", run)

    def test_refuses_a_foreign_format(
        self, edgeai_host: PluginHost, edgeai_record: Any, edgeai_workdir: Path
    ) -> None:
        path = edgeai_workdir / "foreign" / "model.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"not a model\n")
        io = IOSpec(
            (TensorSpec("input", (None, 4), "float32"),), (TensorSpec("output", (None, 4), "float32"),)
        )
        foreign = Artifact(path, "edgeai-conformance-foreign", io).save()
        runtime = self.build(
            edgeai_host, "runtime", self.component, self.component_params(path.parent), path.parent
        )
        try:
            with pytest.raises(EdgeaiError):
                runtime.load(foreign)
        finally:
            runtime.close()

    def reference_outputs(
        self,
        host: PluginHost,
        artifact: Artifact,
        inputs: list[np.ndarray],
        dataset: Dataset | None,
        workdir: Path,
    ) -> list[np.ndarray] | None:
        """Outputs to compare with, or None for no comparison. Default: ``reference_runtime`` on the model after
        ``reference_steps`` (reusing the artifact of :attr:`chain` when they are the first of ``steps``)."""
        if not self.reference_runtime:
            return None
        source = artifact
        steps = list(self.reference_steps) if self.reference_steps is not None else None
        if steps is not None and steps == list(self.steps)[: len(steps)] and len(self.chain) > len(steps):
            source = self.chain[len(steps)]  # a prefix of the steps: reuse that intermediate artifact
        elif steps is not None:
            model = self.build(
                host, "model", self.model, self.model_config(workdir / "ref-model"), workdir / "ref-model"
            )
            source = self.run_steps(host, model.prepare(dataset), steps, dataset, workdir / "ref")
        runtime = self.build(
            host, "runtime", self.reference_runtime, self.reference_params, workdir / "ref-runtime"
        )
        try:
            runtime.load(source)
            return [np.asarray(o) for o in runtime.infer(inputs)]
        finally:
            runtime.close()

    def test_matches_the_reference(
        self, edgeai_host: PluginHost, edgeai_artifact: Artifact, edgeai_inputs: list[np.ndarray],
        edgeai_outputs: list[np.ndarray], edgeai_dataset: Dataset | None, edgeai_workdir: Path,
    ) -> None:  # fmt: skip
        expected = self.reference_outputs(
            edgeai_host, edgeai_artifact, edgeai_inputs, edgeai_dataset, edgeai_workdir / "reference"
        )
        if expected is None:
            pytest.skip("no reference configured (reference_runtime or reference_outputs())")
        for got, want, spec in zip(edgeai_outputs, expected, edgeai_artifact.io.outputs, strict=False):
            if got.shape != want.shape or not np.allclose(got, want, rtol=self.rtol, atol=self.atol):
                worst = (
                    float(np.max(np.abs(got.astype(np.float64) - want))) if got.shape == want.shape else None
                )
                raise ContractViolation(
                    f"{self.where(edgeai_host, 'Runtime.infer')}: output {spec.name!r} differs from the reference "
                    f"({describe(got)} vs {describe(want)}, largest difference {worst}); expected agreement within "
                    f"rtol={self.rtol}, atol={self.atol}"
                )

    def test_serves_over_the_wire(
        self, edgeai_host: PluginHost, edgeai_record: Any, edgeai_artifact: Artifact,
        edgeai_inputs: list[np.ndarray], edgeai_outputs: list[np.ndarray], edgeai_workdir: Path,
    ) -> None:  # fmt: skip
        if not self.remote:
            pytest.skip("remote = False")
        if edgeai_artifact.path.is_dir():
            pytest.skip("remote targets take single-file artifacts")
        params = self.component_params(edgeai_workdir / "served")
        with served(edgeai_host, edgeai_record, params, edgeai_workdir / "served") as client:
            spec = edgeai_artifact.to_json()
            spec["runtime"] = {"name": edgeai_record.name, "params": {}}
            client.send_iospec(spec)
            client.upload(edgeai_artifact.path)
            outputs, _ = client.infer(edgeai_inputs)
        for got, want, tensor in zip(outputs, edgeai_outputs, edgeai_artifact.io.outputs, strict=False):
            assert (
                got.dtype == want.dtype
                and got.shape == want.shape
                and np.allclose(got, want, rtol=self.rtol, atol=self.atol)
            ), (
                f"{self.where(edgeai_host, 'Runtime.infer behind edgeai serve')}: output {tensor.name!r} came back "
                f"as {describe(got)}; expected the local result {describe(want)} within rtol={self.rtol}, "
                f"atol={self.atol}"
            )


@contextlib.contextmanager
def served(
    host: PluginHost, runtime: Any, params: Mapping[str, Any], workdir: Path, protocol: str = "tcp",
    protocol_params: Mapping[str, Any] | None = None,
) -> Iterator[Any]:  # fmt: skip
    """An in-process ``edgeai serve`` of ``runtime`` on loopback TCP (port 0) and a connected, greeted client."""
    from edgeai_core.wire.client import Client
    from edgeai_core.wire.server import TargetServer

    workdir.mkdir(parents=True, exist_ok=True)
    listen_params = dict(protocol_params or {"host": "127.0.0.1", "port": 0})
    listener = host.get("protocol", protocol).create(
        listen_params, where="protocol", context=Context(workdir=workdir)
    )
    options: dict[str, Any] = {}
    if "allow_native_code" in inspect.signature(TargetServer).parameters:
        options["allow_native_code"] = True  # the operator here is the test, on loopback
    server = TargetServer(listener, runtime, dict(params), workdir=workdir / "target", **options)
    event = server.listen()
    thread = threading.Thread(
        target=server.serve, kwargs={"once": True}, name="conformance-serve", daemon=True
    )
    thread.start()
    client = None
    finished = False
    try:
        connect = {**listen_params, **{k: v for k, v in event.items() if k in ("host", "port")}}
        dialer = host.get("protocol", protocol).create(
            connect, where="target", context=Context(workdir=workdir)
        )
        client = Client(dialer.connect(LINK_TIMEOUT_S), timeout_s=LINK_TIMEOUT_S)
        client.hello()
        yield client
        client.bye()
        finished = True
    finally:
        if client is not None:
            client.close()
        _end(server, thread, finished)


def _end(server: Any, thread: threading.Thread, finished: bool) -> None:
    """Let a ``serve(once=True)`` thread end by itself after BYE (it stops the server; stopping it from here as
    well would race with that), else stop it."""
    if finished:
        thread.join(LINK_TIMEOUT_S)
    if thread.is_alive():
        server.stop()
        thread.join(LINK_TIMEOUT_S)


# -- protocols -------------------------------------------------------------------------------------------------


class ProtocolConformance(ComponentConformance):
    """A transport: ``listen`` reports a JSON address, ``connect``/``accept`` give streams that carry bytes both
    ways intact, and the core's wire protocol (HELLO, IOSPEC, MODEL, INFER, BYE) runs over it against an
    in-process ``edgeai serve`` with the ``echo`` runtime.

    ``params`` are the listening side's; :meth:`host_params` turns the listening event into the host side's
    (default: ``params`` updated with the declared parameters the event names, e.g. TCP's bound ``port``).
    """

    kind = "protocol"
    payload_bytes: ClassVar[int] = 64 << 10

    def listen_params(self) -> dict[str, Any]:
        return dict(self.params)

    def host_params(self, record: Registration, address: Mapping[str, Any]) -> dict[str, Any]:
        declared = set(record.params.names)
        return {**self.listen_params(), **{k: v for k, v in address.items() if k in declared}}

    def component_params(self, workdir: Path) -> dict[str, Any]:
        return self.listen_params()

    def _pair(
        self, host: PluginHost, record: Registration, workdir: Path
    ) -> tuple[Protocol, Protocol, dict[str, Any]]:
        target = record.create(self.listen_params(), where="protocol", context=Context(workdir=workdir))
        address = self.call(host, "Protocol.listen", target.listen)
        if not isinstance(address, dict):
            target.close()
            self.fail(
                host, "Protocol.listen", describe(address), "a dict of address facts for the listening line"
            )
        dialer = record.create(
            self.host_params(record, address), where="target", context=Context(workdir=workdir)
        )
        return target, dialer, address

    def test_listen_reports_a_json_address(
        self, edgeai_host: PluginHost, edgeai_record: Registration, edgeai_workdir: Path
    ) -> None:
        target, dialer, address = self._pair(edgeai_host, edgeai_record, edgeai_workdir / "listen")
        try:
            assert _json_normal(address) == address, (
                f"{self.where(edgeai_host, 'Protocol.listen')}: returned {address!r}; expected JSON data"
            )
            for side in (target, dialer):
                text = self.call(edgeai_host, "Protocol.describe", side.describe)
                assert isinstance(text, str) and text, (
                    f"{self.where(edgeai_host, 'Protocol.describe')}: empty"
                )
        finally:
            target.close()
            target.close()  # close is idempotent

    def test_streams_carry_bytes_both_ways(
        self, edgeai_host: PluginHost, edgeai_record: Registration, edgeai_workdir: Path
    ) -> None:
        target, dialer, _ = self._pair(edgeai_host, edgeai_record, edgeai_workdir / "bytes")
        payload = (
            np.random.default_rng(self.seed).integers(0, 256, self.payload_bytes, dtype=np.uint8).tobytes()
        )
        failures: list[BaseException] = []

        def echo_side() -> None:
            try:
                stream = target.accept(LINK_TIMEOUT_S)
                stream.settimeout(LINK_TIMEOUT_S)
                received = _recv_exactly(stream, len(payload))
                stream.send(received[: len(received) // 2], received[len(received) // 2 :])
                _recv_exactly(stream, 1)  # the host's "done"
                stream.close()
            except BaseException as exc:
                failures.append(exc)

        thread = threading.Thread(target=echo_side, name="conformance-accept", daemon=True)
        thread.start()
        try:
            stream = self.call(edgeai_host, "Protocol.connect", dialer.connect, LINK_TIMEOUT_S)
            stream.settimeout(LINK_TIMEOUT_S)
            stream.send(memoryview(payload))
            back = _recv_exactly(stream, len(payload))
            stream.send(b"!")
            thread.join(LINK_TIMEOUT_S)
            stream.close()
            stream.close()
        finally:
            target.close()
            thread.join(LINK_TIMEOUT_S)
        assert not failures, (
            f"{self.where(edgeai_host, 'Protocol.accept')}: the target side failed: {failures[0]!r}"
        )
        assert back == payload, (
            f"{self.where(edgeai_host, 'Stream.send/recv_into')}: {len(payload)} bytes went out and came back "
            "altered; expected them intact"
        )

    def test_wire_protocol_runs_over_it(
        self, edgeai_host: PluginHost, edgeai_record: Registration, edgeai_workdir: Path
    ) -> None:
        from edgeai_core.builtins.echo import echo_artifact
        from edgeai_core.wire.client import Client
        from edgeai_core.wire.server import TargetServer

        work = edgeai_workdir / "wire"
        work.mkdir(exist_ok=True)
        echo = edgeai_host.get("runtime", "echo")
        target = edgeai_record.create(self.listen_params(), where="protocol", context=Context(workdir=work))
        server = TargetServer(target, echo, {}, workdir=work / "target")  # type: ignore[arg-type]
        address = server.listen()
        thread = threading.Thread(target=server.serve, kwargs={"once": True}, daemon=True)
        thread.start()
        artifact = echo_artifact(work / "echo.bin", [(None, 3, 5)])
        inputs = [np.arange(30, dtype=np.float32).reshape(2, 3, 5)]
        finished = False
        try:
            dialer = edgeai_record.create(
                self.host_params(edgeai_record, {k: v for k, v in address.items() if k != "event"}),
                where="target", context=Context(workdir=work),
            )  # fmt: skip
            client = Client(dialer.connect(LINK_TIMEOUT_S), timeout_s=LINK_TIMEOUT_S)
            try:
                info = client.hello()
                assert info.runtime == "echo"
                spec = artifact.to_json()
                spec["runtime"] = {"name": "echo", "params": {}}
                client.send_iospec(spec)
                client.upload(artifact.path)
                outputs, _ = client.infer(inputs)
                client.bye()
                finished = True
            finally:
                client.close()
        finally:
            _end(server, thread, finished)
        assert len(outputs) == 1 and np.array_equal(outputs[0], inputs[0]), (
            f"{self.where(edgeai_host, 'INFER over the transport')}: the echo runtime answered "
            f"{describe(outputs)}; expected the inputs back ({describe(inputs)})"
        )


def _recv_exactly(stream: Any, count: int) -> bytes:
    buffer = bytearray(count)
    view = memoryview(buffer)
    got = 0
    while got < count:
        n = stream.recv_into(view[got:])
        if n == 0:
            raise ConnectionError(f"the peer closed after {got} of {count} bytes")
        got += n
    return bytes(buffer)
