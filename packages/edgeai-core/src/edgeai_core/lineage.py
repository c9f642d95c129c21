"""Artifact metadata, namespaced by the step that wrote it.

A component writes its facts as top-level keys of ``Artifact.metadata`` (``{"mode": "dynamic"}``), and
components commonly carry their input's keys forward (``{**artifact.metadata, ...}``), so a later step can
overwrite an earlier one's key of the same name. The runner therefore files, after each step, the keys that
step added or changed under ``metadata["by_step"][<step name>]``; what an earlier step wrote stays there
unchanged, whatever later steps do to the top level::

    {"mode": "dynamic",                     # top level: the latest value of each key
     "by_step": {"my-net": {"mode": "teacher", "classes": 10},
                 "onnx-quantize": {"mode": "dynamic", "size_before": 412345}}}

The top-level keys stay what the component returned (readers of a key the previous step wrote keep working),
with one exception: verification keys (``verified`` and ``verify_*``, a converter's own check of its output)
describe the artifact that step made, so when a later step merely carries them forward unchanged they are
dropped from its top level (they stay under the verifying step's ``by_step`` entry); an int8 model must not
read as verified by its float source's check. Fidelity across steps is the core's ``fidelity`` section
(:mod:`edgeai_core.fidelity`). :func:`step_metadata` reads one step's own keys. ``by_step`` is reserved: a
component's own value under that key is replaced.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edgeai_core.document import jsonable

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact

STEPS_KEY = "by_step"


def is_verification_key(key: str) -> bool:
    """``verified`` and ``verify_*``: a step's own check of the artifact it made."""
    return key == "verified" or key.startswith("verify_")


def _canonical(value: Any) -> str:
    """JSON text of ``value`` as a sidecar would hold it (tuples as lists, numpy scalars as numbers)."""
    with contextlib.suppress(TypeError, ValueError):  # a numpy array's item() needs a single element
        value = jsonable(value)
    return json.dumps(value, sort_keys=True, default=str)


def _same(a: Any, b: Any) -> bool:
    return a is b or _canonical(a) == _canonical(b)


def steps_of(metadata: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``metadata["by_step"]`` as a dict of dicts (empty when absent or malformed)."""
    steps = metadata.get(STEPS_KEY)
    if not isinstance(steps, Mapping):
        return {}
    return {str(k): dict(v) for k, v in steps.items() if isinstance(v, Mapping)}


def file_under_step(produced: Artifact, source: Artifact | None, step: str) -> Artifact:
    """``produced`` with the keys its step added or changed (relative to ``source``) filed under
    ``metadata["by_step"][step]``, after the entries of earlier steps (taken from ``source``).

    A step name that is already there (the same component twice in a chain) gets ``#2``, ``#3``...
    """
    before = dict(source.metadata) if source is not None else {}
    history = steps_of(before)
    metadata = {k: v for k, v in produced.metadata.items() if k != STEPS_KEY}
    own = {
        key: value for key, value in metadata.items() if key not in before or not _same(before[key], value)
    }
    verification = [k for k in metadata if is_verification_key(k)]
    if any(k in own for k in verification):  # the step verified its artifact: all these keys are its own
        own.update({k: metadata[k] for k in verification})
    else:  # carried forward from an earlier step's artifact: not a statement about this one
        metadata = {k: v for k, v in metadata.items() if not is_verification_key(k)}
    name, n = step, 2
    while name in history:
        name, n = f"{step}#{n}", n + 1
    history[name] = own
    return dataclasses.replace(produced, metadata={**metadata, STEPS_KEY: history})


def step_metadata(artifact: Artifact, step: str) -> dict[str, Any]:
    """The metadata keys that ``step`` (a component name) wrote into ``artifact`` or one of its sources."""
    return dict(steps_of(artifact.metadata).get(step) or {})


def without_steps(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The top-level keys only (what a step record in ``results.json`` shows)."""
    return {k: v for k, v in metadata.items() if k != STEPS_KEY}
