"""The program whose guest instructions ``edgeai target count`` counts (runs inside the target, not the host).

``python guest_count.py ARTIFACT RUNTIME COUNT PARAMS_JSON`` loads the artifact (model file with its sidecar)
with the named runtime, makes one seeded input batch of size 1 from the IO spec, runs one untimed inference,
then COUNT inferences through the runtime's bound callable, and prints one JSON line
(``{"event": "counted", "count": COUNT, ...}``). Two processes that differ only in COUNT differ in their
instruction totals by exactly the instructions of the extra inferences: that difference is the measurement.

Only the standard library, numpy and edgeai-core are imported (what the target's venv holds), and nothing
in it reads the clock or the environment, so that two runs execute the same code apart from the loop.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: guest_count.py ARTIFACT RUNTIME COUNT PARAMS_JSON", file=sys.stderr)
        return 2
    import numpy as np

    from edgeai_core.artifacts import Artifact
    from edgeai_core.components import Context
    from edgeai_core.plugins import PluginHost

    path, runtime_name, count_text, params_text = argv
    count = int(count_text)
    artifact = Artifact.load(path)
    record = PluginHost().get("runtime", runtime_name, where="runtime")
    params = record.params.validate(json.loads(params_text), "runtime")
    workdir = Path(path).parent / "count-workdir"
    workdir.mkdir(exist_ok=True)
    runtime = record.load()(record=record, params=params, context=Context(workdir=workdir, seed=0))
    runtime.load(artifact)
    rng = np.random.default_rng(0)
    inputs = []
    for spec in runtime.io.inputs:
        shape = tuple(1 if not isinstance(d, int) else d for d in spec.shape)
        dtype = np.dtype(spec.dtype)
        if dtype.kind == "f":
            inputs.append(rng.standard_normal(shape).astype(dtype))
        else:
            info = np.iinfo(dtype)
            inputs.append(rng.integers(max(info.min, -100), min(info.max, 100), shape).astype(dtype))
    call = runtime.bind(inputs)
    call()  # the first inference may do one-time work (allocation, kernel selection): never in the loop
    for _ in range(count):
        call()
    runtime.close()
    print(json.dumps({"event": "counted", "count": count, "runtime": runtime_name}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
