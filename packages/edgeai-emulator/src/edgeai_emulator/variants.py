"""Demo variants on the emulated aarch64 target: ``onnxruntime-aarch64`` and ``tvm-aarch64``.

They run when ``EDGEAI_ARM_TARGET`` names a target folder whose server for the variant's runtime is running
(``edgeai target start DIR --runtime onnxruntime``, and ``--runtime tvm``); otherwise ``edgeai demo`` skips
them with the reason. The variant's ``[target]`` table points at that server over loopback TCP.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from edgeai_core.api import DemoVariant

#: the folder of a started emulated target that the demo variants use
ARM_TARGET_ENV = "EDGEAI_ARM_TARGET"
#: how long the host waits for a reply from the emulated server (20-80x native or slower)
TARGET_TIMEOUT_S = 120.0

_DATASET = {"name": "digits"}
_MODEL = {"name": "digits-cnn", "epochs": 30}
#: (name, order, summary, steps, runtime)
ROWS: list[tuple[str, int, str, list[dict[str, Any]] | None, dict[str, Any]]] = [
    (
        "onnxruntime-aarch64",
        26,
        "digits CNN, float32, ONNX Runtime on the emulated aarch64 target (emulated time, 1 thread)",
        None,
        {"name": "onnxruntime", "threads": 1},
    ),
    (
        "tvm-aarch64",
        56,
        "digits CNN cross-compiled by TVM for aarch64, run on the emulated aarch64 target (emulated time)",
        [{"name": "tvm", "target": "aarch64"}],
        {"name": "tvm", "threads": 1},
    ),
]


def target_table(folder: Path, runtime: str) -> tuple[dict[str, Any] | None, str]:
    """``([target] table, "")`` for the running ``runtime`` server of the target at ``folder``, else
    ``(None, why not)``."""
    from edgeai_emulator.server import running_server
    from edgeai_emulator.state import TargetError, load_state

    try:
        state = load_state(folder)
    except TargetError as exc:
        return None, f"{ARM_TARGET_ENV}={folder}: {exc}"
    if not state.complete:
        return None, state.describe_incomplete(folder)
    entry = running_server(folder, runtime)
    if entry is None:
        return None, (
            f"the emulated target {folder} has no running {runtime} server: "
            f"edgeai target start {folder} --runtime {runtime}"
        )
    table = {"protocol": "tcp", "host": "127.0.0.1", "port": entry.port, "token_file": entry.token_file,
             "timeout_s": TARGET_TIMEOUT_S}  # fmt: skip
    return table, ""


def arm_demo_variants(environ: dict[str, str] | None = None) -> list[DemoVariant]:
    env = os.environ if environ is None else environ
    folder = env.get(ARM_TARGET_ENV, "").strip()
    variants = []
    for name, order, summary, steps, runtime in ROWS:
        config: dict[str, Any] = {"dataset": dict(_DATASET), "model": dict(_MODEL)}
        if steps is not None:
            config["steps"] = [dict(step) for step in steps]
        config["runtime"] = dict(runtime)
        if folder:
            table, reason = target_table(Path(folder), runtime["name"])
        else:
            table, reason = (
                None,
                (
                    f"no emulated ARM target: set {ARM_TARGET_ENV}=DIR of one started with "
                    f"`edgeai target start DIR --runtime {runtime['name']}`"
                ),
            )
        if table is not None:
            config["target"] = table
        variants.append(
            DemoVariant(name=name, summary=summary, order=order, config=config, unavailable=reason)
        )
    return variants


__all__ = ["ARM_TARGET_ENV", "ROWS", "arm_demo_variants", "target_table"]
