"""The ``torch-to-onnx`` converter: a ``torch`` checkpoint becomes ``model.onnx`` (with the external data files
the exporter writes for large models, listed as the artifact's companion files).

Two exporters, both measured on this package's models with torch 2.13 (see the README):

* ``torchscript`` (the default, ``torch.onnx.export(dynamo=False)``): 0.1-1 s, writes the requested opset (17 by
  default) directly, and its graphs (Conv, Gemm, Flatten, GlobalAveragePool, Clip) go through ONNX Runtime's
  QDQ quantizer and TVM's Relax ONNX frontend (float and QDQ) unchanged. Torch marks it deprecated; the exact
  torch pin keeps it available, and ``exporter = "dynamo"`` is one parameter away.
* ``dynamo`` (``torch.export`` + onnxscript): 1-11 s per export on two cores (the first in a process pays for
  importing torch._dynamo), native opset 18 (lower opsets go through ONNX's version converter), and progress
  lines on stdout, which the converter captures. Its output passed the same quantizer and TVM checks.

The demo converts once per ONNX variant, so the several times faster exporter is the default.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch

from edgeai_core.api import (
    Artifact,
    ArtifactError,
    Converter,
    EdgeaiError,
    IOSpec,
    MissingDependencyError,
    TensorSpec,
    import_optional,
)
from edgeai_torch import FORMAT
from edgeai_torch.checkpoint import load_checkpoint

log = logging.getLogger(__name__)

ONNX_NAME = "model.onnx"
#: Parameter bytes from which the dynamo exporter writes the weights to ``model.onnx.data``.
EXTERNAL_DATA_BYTES = 1 << 30
VERIFY_BATCH = 8


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[io.StringIO]:
    """Keep the exporters' chatter (stdout progress lines, deprecation warnings, torchvision notices) out of
    the user's terminal and ``--json`` output; it is logged at debug level instead."""
    captured = io.StringIO()
    torch_onnx_log = logging.getLogger("torch.onnx")
    level = torch_onnx_log.level
    torch_onnx_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(captured):
            warnings.simplefilter("always")
            yield captured
    finally:
        torch_onnx_log.setLevel(level)
    for warning in caught:
        log.debug("exporter warning: %s", warning.message)
    if captured.getvalue().strip():
        log.debug("exporter output:\n%s", captured.getvalue().strip())


class TorchToOnnx(Converter):
    """Exports a checkpoint to ONNX with a dynamic batch axis, checks it and (optionally) verifies it."""

    def versions(self) -> dict[str, str]:
        versions = {"torch": torch.__version__, "onnx": onnx.__version__}
        if self.params["exporter"] == "dynamo":
            with contextlib.suppress(ImportError):
                import onnxscript

                versions["onnxscript"] = onnxscript.__version__
        with contextlib.suppress(ImportError):
            import onnxruntime

            versions["onnxruntime"] = onnxruntime.__version__
        return versions

    def convert(self, artifact: Artifact) -> Artifact:
        if artifact.format != FORMAT:
            raise ArtifactError(
                f"converter torch-to-onnx takes '{FORMAT}' artifacts, not '{artifact.format}'"
            )
        p = self.params
        checkpoint = load_checkpoint(artifact.path)
        module = checkpoint.module.eval()
        spec = artifact.io.inputs[0] if artifact.io.inputs else checkpoint.io.inputs[0]
        out_specs = artifact.io.outputs or checkpoint.io.outputs  # the detector has three
        input_name, output_names = spec.name, [o.name for o in out_specs]
        example = torch.from_numpy(self._random(spec, 2, 0))

        target = self.context.workdir / ONNX_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=".export-", dir=self.context.workdir) as tmp:
            written = Path(tmp) / ONNX_NAME
            self._export(module, example, written, input_name, output_names)
            # external data (large models, or exporters that always write it): companion files of the artifact
            extra = sorted(
                f.relative_to(tmp).as_posix() for f in Path(tmp).rglob("*") if f.is_file() and f != written
            )
            for name in extra:
                (target.parent / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(Path(tmp) / name), target.parent / name)
            shutil.move(str(written), target)
        export_s = time.perf_counter() - started

        try:
            onnx.checker.check_model(str(target), full_check=True)
        except Exception as exc:
            raise ArtifactError(f"torch-to-onnx: {target} fails onnx.checker: {exc}") from None
        model = onnx.load(str(target))
        opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)

        io_spec = IOSpec(
            inputs=(TensorSpec(input_name, (None, *spec.shape[1:]), spec.dtype, layout=spec.layout),),
            outputs=tuple(TensorSpec(o.name, (None, *o.shape[1:]), o.dtype) for o in out_specs),
        )
        metadata: dict[str, Any] = {
            **artifact.metadata,
            "architecture": checkpoint.architecture,
            "exporter": p["exporter"],
            "opset": opset,
            "onnx_version": onnx.__version__,
            "torch_version": torch.__version__,
            "export_time_s": export_s,
        }
        metadata.update(self._verify(module, target, io_spec))
        return self.save_artifact(target, "onnx", io_spec, metadata, files=extra)

    @staticmethod
    def _random(spec: TensorSpec, batch: int, seed: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.standard_normal(spec.concrete_shape(batch)).astype(np.float32)

    def _export(
        self,
        module: torch.nn.Module,
        example: torch.Tensor,
        path: Path,
        input_name: str,
        output_name: str | Sequence[str],
    ) -> None:
        p = self.params
        output_names = [output_name] if isinstance(output_name, str) else list(output_name)
        kwargs: dict[str, Any] = {
            "input_names": [input_name],
            "output_names": output_names,
            "opset_version": p["opset"],
        }
        if p["exporter"] == "dynamo":
            # the dynamo exporter needs onnxscript: fail with the install line
            import_optional("onnxscript", "converter:torch-to-onnx (exporter dynamo)", "edgeai-torch[onnx]")
            # weights in a separate .onnx.data file only for large models (protobuf stops at 2 GiB); the
            # torchscript exporter decides that by itself
            external = _parameter_bytes(module) >= EXTERNAL_DATA_BYTES
            kwargs.update(dynamo=True, external_data=external, verbose=False, dynamic_shapes=({0: "batch"},))
        else:
            axes = {name: {0: "batch"} for name in [input_name, *output_names]}
            kwargs.update(dynamo=False, dynamic_axes=axes)
        try:
            with _quiet_exporter(), torch.no_grad():
                torch.onnx.export(module, (example,), str(path), **kwargs)
        except MissingDependencyError:
            raise
        except Exception as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            other = "torchscript" if p["exporter"] == "dynamo" else "dynamo"
            raise EdgeaiError(
                f"torch-to-onnx: the {p['exporter']} exporter failed at opset {p['opset']}: {reason}; "
                f"try exporter = '{other}' or another opset"
            ) from exc
        if not path.is_file():
            raise EdgeaiError(f"torch-to-onnx: the {p['exporter']} exporter wrote no {path.name}")

    def _verify(self, module: torch.nn.Module, path: Path, io_spec: IOSpec) -> dict[str, Any]:
        """Compare ONNX Runtime with torch on a seeded batch and on batch 1 (the dynamic axis must work)."""
        if not self.params["verify"]:
            return {"verified": False}
        try:
            import onnxruntime as ort
        except ImportError:
            log.info("onnxruntime is not installed: the exported model is checked but not run")
            return {"verified": False, "verify_skipped": "onnxruntime is not installed"}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ArtifactError(f"torch-to-onnx: ONNX Runtime cannot load {path}: {exc}") from None
        spec = io_spec.inputs[0]
        worst = 0.0
        for batch, seed in ((VERIFY_BATCH, self.context.seed), (1, self.context.seed + 1)):
            x = self._random(spec, batch, seed)
            with torch.inference_mode():
                out = module(torch.from_numpy(x))
            expected = [o.numpy() for o in (out if isinstance(out, (tuple, list)) else (out,))]
            try:
                found = session.run([o.name for o in io_spec.outputs], {spec.name: x})
            except Exception as exc:
                raise EdgeaiError(f"torch-to-onnx: ONNX Runtime fails on a batch of {batch}: {exc}") from None
            for name, got, want in zip([o.name for o in io_spec.outputs], found, expected, strict=True):
                if got.shape != want.shape:
                    raise EdgeaiError(
                        f"torch-to-onnx: ONNX Runtime gives output '{name}' shape {got.shape} for a batch of "
                        f"{batch}, torch gives {want.shape}"
                    )
                worst = max(worst, float(np.max(np.abs(got - want))))
        tolerance = self.params["tolerance"]
        if not worst <= tolerance:
            raise EdgeaiError(
                f"torch-to-onnx: ONNX Runtime and torch differ by max abs {worst:.3g} > tolerance {tolerance:g}; "
                "try the other exporter, or raise tolerance if the difference is acceptable"
            )
        return {"verified": True, "verify_max_abs_diff": worst, "verify_tolerance": tolerance}


def _parameter_bytes(module: torch.nn.Module) -> int:
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)
