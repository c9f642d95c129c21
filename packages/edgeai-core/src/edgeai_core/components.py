"""Component interfaces: Dataset, Model, Compiler, Converter, Runtime, Protocol, ResourceProbe.

Every component is built by edgeai as ``Factory(record=..., params=..., context=...)`` where ``params``
is the dict already validated against the record's declaration and ``context`` a :class:`Context`
(working directory, seed, progress reporter). Subclasses read ``self.params["name"]``.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from edgeai_core.errors import EdgeaiError, ParameterError
from edgeai_core.progress import NullProgress, Progress

if TYPE_CHECKING:
    import numpy as np

    from edgeai_core.artifacts import Artifact, IOSpec
    from edgeai_core.complexity import ModelComplexity
    from edgeai_core.layerwise import LayerCapture
    from edgeai_core.profiling import ModelProfile
    from edgeai_core.records import Registration

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a component may use besides its parameters."""

    workdir: Path = field(default_factory=Path.cwd)
    seed: int = 0
    progress: Progress = field(default_factory=NullProgress)
    #: The folder of files that a remote host sent (a target server's work directory), or None. Nothing
    #: in it may be loaded as code: see :meth:`check_code_path`.
    host_files: Path | None = None

    def check_code_path(self, library: str | Path, field: str) -> None:
        """Refuse a library (delegate, plugin, custom-op library) that lies among the host's files.

        Call it before loading any code a parameter names. Bare library names (``libedgetpu.so.1``) are
        looked up by the system loader on its own path and pass; paths are resolved, links followed.
        """
        if self.host_files is None:
            return
        text = str(library)
        if "/" not in text and "\\" not in text:
            return
        resolved = Path(text).expanduser().resolve()
        root = self.host_files.resolve()
        if resolved == root or root in resolved.parents:
            raise ParameterError(
                field,
                f"'{text}' lies in the target's work directory, where hosts upload files; code is never "
                "loaded from there: install the library elsewhere on the target",
            )


class Component:
    """Base of every component."""

    def __init__(
        self, *, record: Registration, params: Mapping[str, Any], context: Context | None = None
    ) -> None:
        self.record = record
        self.params: dict[str, Any] = dict(params)
        self.context = context or Context()

    @property
    def name(self) -> str:
        return self.record.name

    def versions(self) -> dict[str, str]:
        """Framework versions this component uses (``{"numpy": "2.1.0"}``), for provenance."""
        return {}

    def save_artifact(
        self,
        path: Path,
        format: str,
        io: IOSpec,
        metadata: Mapping[str, Any] | None = None,
        files: Sequence[str] = (),
    ) -> Artifact:
        """The artifact this component made at ``path``, saved with its sidecar: the producer is the component's
        qualified name (``compiler:onnx-quantize``), the versions are :meth:`versions`. ``files`` names the
        companion files the model needs (relative to its folder, e.g. ``model.onnx.data``)."""
        from edgeai_core.artifacts import Artifact

        return Artifact(
            path,
            format,
            io,
            producer=self.record.qualified_name,
            versions=self.versions(),
            metadata=dict(metadata or {}),
            files=tuple(files),
        ).save()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.record.qualified_name} {self.params}>"


#: the name a Split gives an input array passed bare (``Split(array, targets)``) until the model's IO spec
#: says the real one: :meth:`Split.arrays` and :meth:`Split.named` map it to the model's only/first input.
PLACEHOLDER_INPUT = "input"


@dataclass(frozen=True, init=False)
class Split:
    """One split of a dataset: ``inputs`` maps each model input name to its samples stacked along axis 0,
    ``targets`` is aligned with them (one row per sample).

    Single-input datasets may pass one array (``Split(array, targets)``): it is kept under the
    :data:`PLACEHOLDER_INPUT` name and fed to the model's only input; :attr:`input` returns it back.
    """

    inputs: Mapping[str, np.ndarray]
    targets: np.ndarray

    def __init__(self, inputs: np.ndarray | Mapping[str, np.ndarray], targets: np.ndarray) -> None:
        named = (
            {str(k): v for k, v in inputs.items()}
            if isinstance(inputs, Mapping)
            else {PLACEHOLDER_INPUT: inputs}
        )
        object.__setattr__(self, "inputs", named)
        object.__setattr__(self, "targets", targets)

    @property
    def names(self) -> list[str]:
        """The input names, in the dataset's order."""
        return list(self.inputs)

    @property
    def input(self) -> np.ndarray:
        """The only input array; an error naming the inputs when there are several."""
        if len(self.inputs) != 1:
            raise EdgeaiError(
                f"this split has {len(self.inputs)} inputs ({', '.join(self.inputs) or 'none'}); "
                "use split.inputs[name] or split.arrays(io)"
            )
        return next(iter(self.inputs.values()))

    def __len__(self) -> int:
        first = next(iter(self.inputs.values()), None)
        if first is not None and getattr(first, "shape", None):
            return int(first.shape[0])
        return len(self.targets)

    def take(self, index: Any) -> Split:
        """The samples at ``index`` (a slice or an index array) of every input and of the targets."""
        return Split({k: v[index] for k, v in self.inputs.items()}, self.targets[index])

    def batches(self, batch_size: int) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
        """``({name: array}, targets)`` for each run of ``batch_size`` samples."""
        for start in range(0, len(self), batch_size):
            part = slice(start, start + batch_size)
            yield {k: v[part] for k, v in self.inputs.items()}, self.targets[part]

    def named(self, io: IOSpec) -> Split:
        """This split with a bare array's placeholder name replaced by the model's input name (for a model with
        one input; a bare array cannot feed several, and keeps the placeholder for the error to name)."""
        if (
            list(self.inputs) == [PLACEHOLDER_INPUT]
            and len(io.inputs) == 1
            and io.inputs[0].name != PLACEHOLDER_INPUT
        ):
            return Split({io.inputs[0].name: self.inputs[PLACEHOLDER_INPUT]}, self.targets)
        return self

    def arrays(self, io: IOSpec, where: str = "dataset") -> list[np.ndarray]:
        """The input arrays in the order of ``io`` (one per model input), matched by name.

        A split with one input feeds a model with one input whatever the names; otherwise every model
        input must be present (UsageError naming the missing ones and what the dataset has).
        """
        return order_inputs(self.inputs, io, where)


def order_inputs(inputs: Mapping[str, np.ndarray], io: IOSpec, where: str = "dataset") -> list[np.ndarray]:
    """``inputs`` (name -> array) as a list in the order of ``io``; see :meth:`Split.arrays`."""
    from edgeai_core.errors import UsageError

    wanted = [spec.name for spec in io.inputs]
    if len(wanted) <= 1 and len(inputs) == 1:
        return [next(iter(inputs.values()))]
    missing = [name for name in wanted if name not in inputs]
    if missing:
        raise UsageError(
            f"{where} gives input(s) {', '.join(inputs) or 'none'}, but the model takes {len(wanted)} "
            f"({', '.join(wanted)}); missing: {', '.join(missing)}"
        )
    return [inputs[name] for name in wanted]


SPLITS = ("train", "validation", "test")


class Dataset(Component, abc.ABC):
    """A dataset: preparation (download is opt-in), deterministic splits, calibration data, evaluation.

    Subclasses implement :meth:`prepare` and :meth:`split`; classification datasets also set
    :attr:`class_names`. :meth:`evaluate` defaults to the core's metrics for the record's task.
    """

    @abc.abstractmethod
    def prepare(self) -> None:
        """Load (and, if the user opted in, download) the data. Raise DatasetError when it is absent."""

    @abc.abstractmethod
    def split(self, name: str) -> Split:
        """Return ``train``, ``validation`` or ``test``, the same for the same seed every time."""

    @property
    def task(self) -> str:
        return getattr(self.record, "task", "any")

    @property
    def class_names(self) -> list[str]:
        return []

    @property
    def has_labels(self) -> bool:
        """False for datasets without ground truth (synthetic inputs): quality is then not applicable."""
        return True

    def use_io_spec(self, io: IOSpec) -> None:
        """Called once the model's IO spec is known, before calibration and benchmarking.

        Datasets that generate inputs to fit the model (``synthetic``) use it; others ignore it.
        """

    def calibration_inputs(self, count: int) -> np.ndarray:
        """A seeded subset of the training inputs for quantization calibration (single-input datasets;
        see :meth:`calibration_samples` for any number of inputs)."""
        samples = self.calibration_samples(count)
        if len(samples) != 1:
            raise EdgeaiError(
                f"dataset '{self.name}' has {len(samples)} inputs ({', '.join(samples)}); "
                "use calibration_samples() to calibrate every input"
            )
        return next(iter(samples.values()))

    def calibration_samples(self, count: int) -> dict[str, np.ndarray]:
        """Up to ``count`` seeded training samples for calibration: input name -> stacked array.

        A dataset that overrides only :meth:`calibration_inputs` (one array) gets it here under the
        placeholder name; use :func:`order_inputs` to feed a model."""
        import numpy as np

        if type(self).calibration_inputs is not Dataset.calibration_inputs:
            return dict(Split(self.calibration_inputs(count), np.zeros(0)).inputs)
        train = self.split("train")
        rng = np.random.default_rng(self.context.seed)
        index = rng.permutation(len(train))[: min(count, len(train))]
        return dict(train.take(np.sort(index)).inputs)

    def evaluate(self, outputs: Any, targets: np.ndarray) -> dict[str, Any]:
        """Turn model outputs for a split into quality metrics (see :mod:`edgeai_core.metrics`).

        Classification gets the first output's rows (N, C). Detection gets one
        :class:`~edgeai_core.tasks.Detections` per image and segmentation an (N, H, W) label map, decoded
        by the core from the model's ``postprocess`` declaration (:mod:`edgeai_core.tasks`); the metrics for
        those come from the dataset's plugin (edgeai-datasets has COCO-style mAP and mIoU).
        """
        if self.task == "classification":
            from edgeai_core.metrics import classification_metrics

            return classification_metrics(outputs, targets, self.class_names or None)
        return {
            "task": self.task,
            "applicable": False,
            "reason": f"dataset {self.name} has no {self.task} metrics",
        }

    def preview(self, split: str, index: int) -> np.ndarray | None:
        """Image ``index`` of ``split`` as (H, W, 3) uint8 RGB for reports (detection, segmentation), or None."""
        return None


class Model(Component, abc.ABC):
    """A model: built or trained from a dataset, or loaded from a file, and saved as an artifact."""

    @abc.abstractmethod
    def prepare(self, dataset: Dataset | None) -> Artifact:
        """Return the model as an artifact in the record's ``format`` inside ``context.workdir``:
        load it when the parameters point at weights, otherwise build (and train) it."""

    def train(self, dataset: Dataset) -> Artifact:
        """Train on ``dataset`` and return the checkpoint artifact."""
        raise EdgeaiError(f"model '{self.name}' cannot be trained by edgeai; load it from a file instead")


class Compiler(Component, abc.ABC):
    """Turns an artifact into an optimized or compiled one (quantization, pruning, code generation)."""

    @abc.abstractmethod
    def compile(self, artifact: Artifact, dataset: Dataset | None) -> Artifact:
        """Return a new artifact written inside ``context.workdir``; ``dataset`` is given when the
        record says ``needs_dataset`` (use :meth:`Dataset.calibration_inputs`)."""


class Converter(Component, abc.ABC):
    """Converts an artifact from one format to another."""

    @abc.abstractmethod
    def convert(self, artifact: Artifact) -> Artifact:
        """Return the converted artifact written inside ``context.workdir``."""


class Runtime(Component, abc.ABC):
    """Loads an artifact and runs inference on numpy arrays."""

    #: True when callables from :meth:`bind` (and :meth:`infer`) may run from several threads at once (ONNX
    #: Runtime's ``InferenceSession.run`` is thread-safe); the offline and server scenarios otherwise call
    #: the runtime from one thread at a time and say so (``serialized``) in the results.
    thread_safe: bool = False

    @abc.abstractmethod
    def load(self, artifact: Artifact) -> None:
        """Load the model; raise RuntimeFailure with a clear reason when it cannot."""

    @abc.abstractmethod
    def infer(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run one inference on a batch: one array per input of the IO spec, one per output back."""

    @property
    def io(self) -> IOSpec:
        """The IO spec of the loaded model."""
        raise NotImplementedError

    def bind(self, inputs: Sequence[np.ndarray]) -> Callable[[], object]:
        """Prepare ``inputs`` and return a no-argument callable doing exactly the work to be timed.

        The benchmark loop times only calls of the returned function, so a runtime whose framework
        separates setting inputs from invoking (TFLite's ``set_tensor``/``invoke``) should override this
        to do the former here. The default times a whole :meth:`infer`.
        """
        return lambda: self.infer(inputs)

    def profile(self, inputs: Sequence[np.ndarray], runs: int) -> ModelProfile | None:
        """Per-layer times of ``runs`` inferences on ``inputs`` (:mod:`edgeai_core.profiling`), or None when
        this runtime cannot profile (the default). Raise
        :class:`~edgeai_core.profiling.ProfileUnavailable` to say why not. Called after the timed benchmark,
        never during it: a profiler may slow the model or load a second copy of it."""
        return None

    def layer_outputs(self, inputs: Sequence[np.ndarray]) -> LayerCapture | None:
        """The model's intermediate tensors on ``inputs`` by tensor name, with the graph that makes them
        (:mod:`edgeai_core.layerwise`), for per-layer numerics (``fidelity.layers``); None (the default) when
        this runtime cannot expose them."""
        return None

    def close(self) -> None:
        """Release the model."""


class Stream(abc.ABC):
    """A byte stream between host and target, opened by a :class:`Protocol`.

    ``reliable`` streams (TCP) deliver bytes intact and in order. On unreliable ones (serial lines) the core
    puts a CRC32 on every frame, acknowledges each and retransmits corrupted ones, so a transport only moves
    bytes. Framing and messages are the core's (:mod:`edgeai_core.wire`).
    """

    #: False for links that can corrupt or lose bytes: frames then carry CRC32 and are acknowledged.
    reliable: bool = True
    #: Preferred payload bytes per MODEL upload chunk.
    chunk_bytes: int = 64 << 20
    #: Line speed in bytes per second where known (serial), to size retransmission timeouts.
    bytes_per_s: float | None = None

    @abc.abstractmethod
    def send(self, *parts: bytes | bytearray | memoryview) -> None:
        """Send all of ``parts``, in order (scatter-gather where the transport can). Raise TimeoutError
        when the peer does not take them within the stream's timeout, OSError when the link failed."""

    @abc.abstractmethod
    def recv_into(self, buffer: memoryview) -> int:
        """Receive up to ``len(buffer)`` bytes into ``buffer`` and return how many; 0 means the peer closed.
        Raise TimeoutError when nothing arrives within the stream's timeout."""

    @abc.abstractmethod
    def settimeout(self, seconds: float | None) -> None:
        """Set the timeout of each :meth:`send` and :meth:`recv_into` call (None: wait forever)."""

    def send_file(self, file: BinaryIO, offset: int, count: int) -> None:
        """Send ``count`` bytes of ``file`` from ``offset`` (TCP overrides this with sendfile)."""
        file.seek(offset)
        while count > 0:
            chunk = file.read(min(count, 1 << 20))
            if not chunk:
                raise OSError(f"{getattr(file, 'name', 'file')} ended {count} bytes early")
            self.send(chunk)
            count -= len(chunk)

    def pending(self) -> bool:
        """Whether bytes from the peer are waiting to be read (a target's early reply during an upload)."""
        return False

    def describe(self) -> str:
        """Where the stream leads, for messages (``tcp 127.0.0.1:7575``)."""
        return type(self).__name__

    @abc.abstractmethod
    def close(self) -> None:
        """Close the stream (idempotent)."""


class Protocol(Component, abc.ABC):
    """A transport for the edgeai wire protocol: opens streams from the host and accepts them on the target.

    Parameters come from the record (``host``/``port`` for TCP, ``device``/``baudrate`` for serial); a
    ``token_file`` parameter, where declared, names the shared secret both sides authenticate with.
    """

    #: Whether several hosts can try to connect at once; the server then answers the extra ones BUSY.
    concurrent: bool = True

    @abc.abstractmethod
    def connect(self, timeout: float) -> Stream:
        """Host side: open a stream to the target named by the parameters."""

    @abc.abstractmethod
    def listen(self) -> dict[str, Any]:
        """Target side: start listening; return the address facts for the listening line
        (``{"host": "127.0.0.1", "port": 7575}``)."""

    @abc.abstractmethod
    def accept(self, timeout: float | None) -> Stream:
        """Target side: wait for the next host and return its stream (TimeoutError after ``timeout``)."""

    def describe(self) -> str:
        """The target's address for messages (``tcp 127.0.0.1:7575``)."""
        return self.name

    def token(self, where: str = "target.token_file") -> bytes | None:
        """The shared secret from the ``token_file`` parameter, or None when none is configured."""
        path = self.params.get("token_file")
        if path is None:
            return None
        from edgeai_core.wire.auth import read_token

        return read_token(path, where)

    def close(self) -> None:
        """Stop listening."""


class ResourceProbe(Component, abc.ABC):
    """Extra resource metrics sampled during benchmarks (GPU, power). Raise from ``__init__`` when the
    resource is absent on this machine."""

    @abc.abstractmethod
    def sample(self) -> dict[str, float]:
        """Return the current readings (``{"gpu_percent": 40.0}``); called from the sampler thread."""

    def close(self) -> None:
        """Release the probe."""


class ModelAnalyzer(Component, abc.ABC):
    """Computes an artifact's complexity (see :mod:`edgeai_core.complexity`) without running it."""

    @abc.abstractmethod
    def analyze(self, artifact: Artifact) -> ModelComplexity:
        """Return the per-layer and whole-model figures of ``artifact`` (one of the record's ``formats``).

        Raise :class:`~edgeai_core.complexity.AnalysisError` naming the file when it cannot be read. List
        operators you cannot count in ``unknown_ops`` rather than counting them as zero."""
