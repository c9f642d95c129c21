"""The measurement document: one JSON file per run, plus a progress file written during the run.

``results.json`` is written atomically when the run ends, successfully or not. While the run goes on, every
measured fact (each finished step, latency samples in chunks, resource series, quality) is appended as one JSON
line to ``results.partial.jsonl`` and flushed, so a crash or a kill loses nothing measured:
:func:`recover_partial` rebuilds a document (status ``"interrupted"``) from that file.

The document's sections are typed objects (:mod:`edgeai_core.document`); its layout is fixed by the JSON
Schema shipped as ``edgeai_core/schemas/results.schema.json`` (:func:`schema_path`); ``schema_version``
changes its major number on any incompatible change.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from edgeai_core.artifacts import write_json_atomic
from edgeai_core.document import (
    SCHEMA_VERSION,
    ComplexitySection,
    FidelitySection,
    Latency,
    MemorySection,
    NotApplicable,
    PartialLatency,
    Provenance,
    Quality,
    RunError,
    Series,
    Step,
    TargetDescription,
    Validity,
    jsonable,
)
from edgeai_core.errors import EdgeaiError

RESULTS_FILE = "results.json"
PARTIAL_FILE = "results.partial.jsonl"


def schema_path() -> Path:
    """Path of the shipped JSON Schema for ``results.json``."""
    return Path(__file__).with_name("schemas") / "results.schema.json"


def load_schema() -> dict[str, Any]:
    return json.loads(schema_path().read_text(encoding="utf-8"))


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_sha(cwd: Path) -> str | None:
    """The commit checked out in the repository holding ``cwd``, read from its files (no ``git`` process):
    ``HEAD``, then the ref it names, loose or packed. None outside a repository or when unreadable."""
    try:
        here = cwd.resolve()
        for folder in (here, *here.parents):
            dot_git = folder / ".git"
            if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
                text = dot_git.read_text(encoding="utf-8").strip()
                if not text.startswith("gitdir:"):
                    return None
                git_dir = (folder / text.partition(":")[2].strip()).resolve()
            elif dot_git.is_dir():
                git_dir = dot_git
            else:
                continue
            return _resolve_head(git_dir)
    except (OSError, UnicodeDecodeError):
        return None
    return None


def _resolve_head(git_dir: Path) -> str | None:
    head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
    if not head.startswith("ref:"):
        return head if re.fullmatch(r"[0-9a-f]{40,64}", head) else None
    ref = head.partition(":")[2].strip()
    # a linked worktree keeps its HEAD but shares refs with the main repository ("commondir")
    common = git_dir
    if (git_dir / "commondir").is_file():
        common = (git_dir / (git_dir / "commondir").read_text(encoding="utf-8").strip()).resolve()
    for base in (git_dir, common):
        loose = base / ref
        if loose.is_file():
            sha = loose.read_text(encoding="utf-8").strip()
            return sha if re.fullmatch(r"[0-9a-f]{40,64}", sha) else None
    packed = common / "packed-refs"
    if packed.is_file():
        for line in packed.read_text(encoding="utf-8").splitlines():
            sha, _, name = line.partition(" ")
            if name.strip() == ref and re.fullmatch(r"[0-9a-f]{40,64}", sha):
                return sha
    return None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine_facts() -> dict[str, Any]:
    """Python, OS and CPU of this machine."""
    import psutil

    freq = None
    try:
        f = psutil.cpu_freq()
        freq = round(f.max or f.current, 1) if f else None
    except (OSError, NotImplementedError, AttributeError):
        pass
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
        },
        "os": {"system": platform.system(), "release": platform.release(), "machine": platform.machine()},
        "cpu": {
            "model": _cpu_model(),
            "logical_cores": psutil.cpu_count(logical=True),
            "physical_cores": psutil.cpu_count(logical=False),
            "max_frequency_mhz": freq,
        },
        "memory_total_bytes": psutil.virtual_memory().total,
        "hostname": platform.node(),
    }


def provenance(
    *,
    config: Mapping[str, Any],
    seed: int,
    plugins: Mapping[str, str | None],
    frameworks: Mapping[str, str] | None = None,
    command: Sequence[str] | None = None,
    cwd: Path | None = None,
) -> Provenance:
    """The provenance block: who measured what, with which versions, where and when."""
    argv = list(command if command is not None else sys.argv)
    if argv:
        argv[0] = Path(argv[0]).name
    return Provenance(
        edgeai_version=_version("edgeai-core") or "unknown",
        plugins=dict(plugins),
        frameworks=dict(frameworks or {}),
        command=shlex.join(argv),
        config=jsonable(config),
        seed=seed,
        machine=machine_facts(),
        started_at=now_iso(),
        git_sha=_git_sha(cwd or Path.cwd()),
    )


def empty_document(name: str) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "status": "running",
        "error": None,
        "provenance": {},
        "plan": None,
        "steps": [],
        "latency": None,
        "resources": {"host": None, "target": None},
        "quality": None,
        "fidelity": None,
    }


#: a section given as a typed object (``to_json()``) or, from older callers, as its JSON already
Section = Any


def _json(section: Section) -> Any:
    return jsonable(section.to_json() if hasattr(section, "to_json") else section)


class OutputWriteError(EdgeaiError):
    """Writing one of the run's output files failed (a full disk, a read-only folder, a quota)."""

    def __init__(self, path: Path, exc: OSError) -> None:
        reason = (exc.strerror or str(exc)).rstrip(".")
        self.path = Path(path)
        self.reason = reason[:1].lower() + reason[1:]
        super().__init__(f"writing {self.path}: {self.reason}")


class RunRecorder:
    """Builds the measurement document from typed sections (:mod:`edgeai_core.document`) and mirrors every
    addition to the progress file.

    :attr:`document` is the JSON view, kept current; :attr:`provenance` the typed provenance once set.
    """

    def __init__(self, output_dir: Path, name: str) -> None:
        self.output_dir = Path(output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.document = empty_document(name)
        self.provenance: Provenance | None = None
        self.partial_path = self.output_dir / PARTIAL_FILE
        self.results_path = self.output_dir / RESULTS_FILE
        # samples so far, per side and phase: a failed run's results.json keeps them too
        self._samples: dict[str, dict[str, list[int]]] = {"host": {}, "target": {}}
        #: the progress file stopped accepting writes (its error); the document in memory is still complete
        self.partial_error: OutputWriteError | None = None
        try:
            self._partial: IO[str] | None = self.partial_path.open("w", encoding="utf-8")
        except OSError as exc:
            self._partial = None
            raise OutputWriteError(self.partial_path, exc) from None
        self._event("start", schema_version=SCHEMA_VERSION, name=name)

    def _event(self, event: str, **data: Any) -> None:
        if self._partial is None:
            return
        line = json.dumps({"event": event, **jsonable(data)}, allow_nan=False) + "\n"
        try:
            self._partial.write(line)
            self._partial.flush()
        except OSError as exc:
            self._give_up_partial(exc)

    def _sync(self) -> None:
        if self._partial is not None:
            try:
                os.fsync(self._partial.fileno())
            except OSError as exc:
                self._give_up_partial(exc)

    def _give_up_partial(self, exc: OSError) -> None:
        """The progress file cannot be written: stop writing it and fail the run, naming the file."""
        partial, self._partial = self._partial, None
        if partial is not None:
            with contextlib.suppress(OSError):
                partial.close()
        self.partial_error = OutputWriteError(self.partial_path, exc)
        raise self.partial_error

    def set_provenance(self, prov: Provenance | Mapping[str, Any]) -> None:
        if isinstance(prov, Provenance):
            self.provenance = prov
        self.document["provenance"] = _json(prov)
        self._event("provenance", provenance=self.document["provenance"])
        self._sync()

    def set_frameworks(self, frameworks: Mapping[str, str]) -> None:
        """The framework versions of every component, known once the runtime is loaded."""
        if self.provenance is not None:
            self.provenance.frameworks = dict(frameworks)
            self.set_provenance(self.provenance)

    def set_target(self, target: TargetDescription) -> None:
        """Remote runs: the target the runtime ran on."""
        if self.provenance is not None:
            self.provenance.target = target
            self.set_provenance(self.provenance)

    def set_plan(self, plan: Mapping[str, Any]) -> None:
        self.document["plan"] = jsonable(plan)
        self._event("plan", plan=plan)

    def add_step(self, step: Step | Mapping[str, Any]) -> None:
        data = _json(step)
        self.document["steps"].append(data)
        self._event("step", step=data)
        self._sync()

    def add_samples(self, phase: str, samples: Sequence[int]) -> None:
        """Latency samples as they come, in chunks (``phase`` is ``warmup`` or ``measure``)."""
        self._samples["host"].setdefault(phase, []).extend(samples)
        self._event("samples", phase=phase, samples_ns=list(samples))

    def add_target_samples(self, phase: str, samples: Sequence[int]) -> None:
        """Target-measured inference times (remote runs), aligned with the host's samples."""
        self._samples["target"].setdefault(phase, []).extend(samples)
        self._event("target_samples", phase=phase, samples_ns=list(samples))

    def set_latency(self, latency: Latency | Mapping[str, Any]) -> None:
        data = _json(latency)
        self.document["latency"] = data
        summary = {k: v for k, v in data.items() if k not in ("samples_ns", "warmup")}
        if isinstance(summary.get("target"), dict):  # its samples are in the target_samples events
            summary["target"] = {
                k: v for k, v in summary["target"].items() if k not in ("samples_ns", "warmup")
            }
        self._event("latency", latency=summary)
        self._sync()

    def set_resources(self, side: str, series: Series | None) -> None:
        self.document["resources"][side] = jsonable(series)
        self._event("resources", side=side, series=series)
        self._sync()

    def set_quality(self, quality: Quality | NotApplicable | Mapping[str, Any]) -> None:
        self.document["quality"] = _json(quality)
        self._event("quality", quality=self.document["quality"])
        self._sync()

    def set_fidelity(self, fidelity: FidelitySection | Mapping[str, Any]) -> None:
        """The ``fidelity`` section as it stands (set again after each compared step)."""
        data = _json(fidelity)
        if data and self.provenance is not None and self.provenance.target is not None:
            from edgeai_core.emulation import cross_architecture

            host_isa = (self.provenance.machine.get("os") or {}).get("machine")
            cross = cross_architecture(data, self.provenance.target.to_json(), host_isa)
            if cross is not None:
                data["cross_architecture"] = cross
        self.document["fidelity"] = data
        self._event("fidelity", fidelity=self.document["fidelity"])
        self._sync()

    def set_target_profile(self, section: Section) -> None:
        """The ``target_profile`` section: the profile the numbers belong to."""
        self.document["target_profile"] = _json(section)
        self._event("target_profile", target_profile=self.document["target_profile"])

    def set_fit(self, fit: Section) -> None:
        """The ``fit`` section: the model against the config's target profile (:mod:`edgeai_core.fit`)."""
        self.document["fit"] = _json(fit)
        self._event("fit", fit=self.document["fit"])

    def set_validity(self, validity: Validity | Mapping[str, Any]) -> None:
        """The ``validity`` section (:mod:`edgeai_core.validity`), once the benchmark's series are in."""
        self.document["validity"] = _json(validity)
        self._event("validity", validity=self.document["validity"])

    def set_scenario(self, scenario: Mapping[str, Any]) -> None:
        """The optional ``scenario`` section (offline and server scenarios; :mod:`edgeai_core.scenarios`)."""
        self.document["scenario"] = _json(scenario)
        self._event("scenario", scenario=self.document["scenario"])
        self._sync()

    def set_complexity(self, complexity: ComplexitySection) -> None:
        """The final artifact's complexity (:mod:`edgeai_core.analysis`); an optional section."""
        self.document["complexity"] = _json(complexity)
        self._event("complexity", complexity=self.document["complexity"])
        self._sync()

    def set_memory(self, memory: MemorySection | None) -> None:
        """The model's own memory (:mod:`edgeai_core.modelmemory`); an optional section, absent when None."""
        if memory is not None:
            self.document["memory"] = _json(memory)
            self._event("memory", memory=self.document["memory"])

    def set_profile(self, profile: Section) -> None:
        """The ``profile`` section (``benchmark.profile``; :mod:`edgeai_core.profiling`)."""
        self.document["profile"] = _json(profile)
        self._event("profile", profile=self.document["profile"])
        self._sync()

    def finish(self, status: str, error: RunError | Mapping[str, Any] | None = None) -> Path:
        """Write ``results.json`` atomically (whatever the status) and close the progress file."""
        error_json = None if error is None else _json(error)
        self.document["status"] = status
        self.document["error"] = error_json
        if status != "complete" and self.document["latency"] is None and self._samples["host"]:
            self.document["latency"] = _partial_latency(self._samples["host"], self._samples["target"])
        if self.provenance is not None:
            self.provenance.finished_at = now_iso()
            self.document["provenance"] = _json(self.provenance)
        elif self.document["provenance"]:
            self.document["provenance"]["finished_at"] = now_iso()
        with contextlib.suppress(OutputWriteError):  # results.json below is what counts now
            self._event("end", status=status, error=error_json)
            self._sync()
        if self._partial is not None:
            with contextlib.suppress(OSError):
                self._partial.close()
            self._partial = None
        try:
            write_json_atomic(self.results_path, self.document)
        except OSError as exc:
            raise OutputWriteError(self.results_path, exc) from None
        return self.results_path


def _partial_latency(host: dict[str, list[int]], target: dict[str, list[int]]) -> dict[str, Any]:
    """A ``latency`` section from the samples of an unfinished run (marked ``partial``)."""

    def side(samples: dict[str, list[int]], other: PartialLatency | None = None) -> PartialLatency:
        return PartialLatency(samples.get("warmup", []), samples.get("measure", []), other)

    section: dict[str, Any] = side(host, side(target) if target else None).to_json()
    return section


def recover_partial(path: str | Path) -> dict[str, Any]:
    """Rebuild a measurement document from a progress file left by an interrupted run.

    A truncated last line (the process died mid-write) is ignored. The result has status ``interrupted``
    unless the file records an end.
    """
    path = Path(path)
    doc: dict[str, Any] | None = None
    warmup: list[int] = []
    measure: list[int] = []
    target: dict[str, list[int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        kind = event.get("event")
        if kind == "start":
            doc = empty_document(event.get("name", ""))
            doc["status"] = "interrupted"
            doc["error"] = {"stage": "unknown", "type": "Interrupted", "message": "the run did not finish"}
        elif doc is None:
            continue
        elif kind == "provenance":
            doc["provenance"] = event["provenance"]
        elif kind == "plan":
            doc["plan"] = event["plan"]
        elif kind == "profile":
            doc["profile"] = event["profile"]
        elif kind == "step":
            doc["steps"].append(event["step"])
        elif kind == "samples":
            (warmup if event.get("phase") == "warmup" else measure).extend(event["samples_ns"])
        elif kind == "target_samples":
            phase = "warmup" if event.get("phase") == "warmup" else "measure"
            target.setdefault(phase, []).extend(event["samples_ns"])
        elif kind == "latency":
            doc["latency"] = dict(event["latency"])
        elif kind == "resources":
            doc["resources"][event["side"]] = event["series"]
        elif kind == "quality":
            doc["quality"] = event["quality"]
        elif kind == "fidelity":
            doc["fidelity"] = event["fidelity"]
        elif kind in ("target_profile", "fit"):
            doc[kind] = event[kind]
        elif kind == "validity":
            doc["validity"] = event["validity"]
        elif kind == "scenario":
            doc["scenario"] = event["scenario"]
        elif kind in ("complexity", "memory"):  # optional sections
            doc[kind] = event[kind]
        elif kind == "end":
            doc["status"], doc["error"] = event["status"], event.get("error")
    if doc is None:
        raise ValueError(f"{path} holds no edgeai progress events")
    if doc["latency"] is None and (warmup or measure):
        from edgeai_core.stats import latency_stats

        rebuilt: dict[str, Any] = {"unit": "ns", "partial": True}
        if measure:
            rebuilt["stats"] = latency_stats(measure)
        doc["latency"] = rebuilt
    latency = doc["latency"]
    if latency is not None:
        latency["warmup"] = {"count": len(warmup), "samples_ns": warmup}
        latency["samples_ns"] = measure
        if target or latency.get("target"):
            section = dict(latency.get("target") or {"unit": "ns", "partial": True})
            t_warmup, t_measure = target.get("warmup", []), target.get("measure", [])
            section["warmup"] = {"count": len(t_warmup), "samples_ns": t_warmup}
            section["samples_ns"] = t_measure
            if "stats" not in section and t_measure:
                from edgeai_core.stats import latency_stats

                section["stats"] = latency_stats(t_measure)
            latency["target"] = section
    return doc
