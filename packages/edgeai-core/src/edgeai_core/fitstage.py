"""The fit check inside a pipeline run, and the ``target_profile`` section every run records.

A config naming ``[target] profile = "NAME"`` has its model checked against that profile
(:mod:`edgeai_core.fit`): in planning, before anything heavy, when the pipeline runs a model file as it is (no
steps: the file is the final artifact); otherwise once the final artifact is built, before the benchmark. A
model that does not fit stops the run (exit 2) unless ``--force``; either way ``results.json`` holds the
``fit`` section. Every run records ``target_profile``: the named profile, else ``host`` (this machine,
measured) for local runs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from edgeai_core.complexity import AnalysisError
from edgeai_core.document import TargetProfileSection
from edgeai_core.fit import FitRefused, NoAnalyzerError, TargetFit, analyze_artifact, check_fit
from edgeai_core.records import FORMAT_FROM_SIDECAR, ModelRecord

if TYPE_CHECKING:
    from edgeai_core.artifacts import Artifact
    from edgeai_core.measurement import RunRecorder
    from edgeai_core.planner import Plan
    from edgeai_core.plugins import PluginHost
    from edgeai_core.progress import Progress

log = logging.getLogger(__name__)


def profile_section(plan: Plan) -> TargetProfileSection:
    """Which profile the run's numbers belong to."""
    if plan.target_profile is not None:
        return TargetProfileSection(plan.target_profile.name, "named", plan.target_profile.to_json())
    if plan.target is not None:
        return TargetProfileSection(None, "remote")
    from edgeai_core.hostprofile import measure_host

    host = measure_host()
    return TargetProfileSection(host.name, "measured", host.to_json())


def model_file_artifact(plan: Plan) -> Artifact | None:
    """The model file as the final artifact, when the pipeline loads a file and has no steps; else None."""
    record = plan.model.record
    path = plan.model.params.get("path")
    if plan.steps or not isinstance(record, ModelRecord) or not path:
        return None
    if not (record.loads or record.format == FORMAT_FROM_SIDECAR):
        return None
    from edgeai_core.artifacts import Artifact, IOSpec, sidecar_path

    path = Path(path)
    if not path.is_file():
        return None  # the model's own check names the missing file
    if sidecar_path(path).is_file():
        return Artifact.load(path)
    return Artifact(path, plan.model_format or record.format, IOSpec((), ()))


def fit_of(plan: Plan, host: PluginHost, artifact: Artifact, stage: str) -> TargetFit:
    """The fit of ``artifact`` on the plan's target profile; unchecked (with the reason) when no analyzer reads
    it or the analysis fails."""
    profile = plan.target_profile
    assert profile is not None
    try:
        complexity = analyze_artifact(host, artifact)
    except (NoAnalyzerError, AnalysisError) as exc:
        log.warning("%s", exc)
        return TargetFit.unchecked(profile.name, str(exc), stage)
    return check_fit(
        complexity, profile, artifact_bytes=artifact.size_bytes, runtime=plan.runtime.record.name, stage=stage
    )


def planning_fit(plan: Plan, host: PluginHost) -> TargetFit | None:
    """The fit ``edgeai run`` checks in planning (``--dry-run`` shows it): None without a named profile, or
    when the pipeline builds its final artifact (checked once it exists)."""
    if plan.target_profile is None:
        return None
    artifact = model_file_artifact(plan)
    return None if artifact is None else fit_of(plan, host, artifact, "planning")


def refusal(fit: TargetFit) -> FitRefused:
    """The error that stops a run whose model does not fit (exit 2)."""
    return FitRefused(
        f"target.profile: the model does not fit {fit.target}: {'; '.join(fit.reasons)} (--force runs it anyway)"
    )


class PipelineFit:
    """The fit stage of one run (the runner calls :meth:`before` first and :meth:`after` on the final
    artifact)."""

    def __init__(self, plan: Plan, host: PluginHost, progress: Progress, *, force: bool = False) -> None:
        self.plan, self.host, self.progress, self.force = plan, host, progress, force
        self.checked = False

    def before(self, recorder: RunRecorder) -> None:
        recorder.set_target_profile(profile_section(self.plan))
        if self.plan.target_profile is None:
            return
        artifact = model_file_artifact(self.plan)
        if artifact is not None:
            self.check(recorder, artifact, "planning")

    def after(self, recorder: RunRecorder, artifact: Artifact) -> None:
        if self.plan.target_profile is not None and not self.checked:
            self.check(recorder, artifact, "artifact")

    def check(self, recorder: RunRecorder, artifact: Artifact, stage: str) -> TargetFit:
        profile = self.plan.target_profile
        assert profile is not None
        self.checked = True
        self.progress.stage(f"fit: {Path(artifact.path).name} on target profile {profile.name}")
        fit = fit_of(self.plan, self.host, artifact, stage)
        recorder.set_fit(fit)
        self.progress.done(fit.verdict)
        if fit.fits is False and not self.force:
            raise refusal(fit)
        return fit


__all__ = ["PipelineFit", "fit_of", "model_file_artifact", "planning_fit", "profile_section", "refusal"]
