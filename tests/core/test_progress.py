"""StreamProgress on a fake clock writing to a StringIO: the live line on a terminal (width, rate, ETA), the
throttled lines elsewhere, and the benchmark's two stopping rules; plus a real `edgeai train 2>log`."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from edgeai_core.benchmark import BenchmarkSettings, run_benchmark
from edgeai_core.progress import (
    Progress,
    StreamProgress,
    format_count,
    format_duration,
    interval_from_env,
    progress_total,
    stopping_fraction,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _progress(
    *, interactive: bool, width: int = 80, interval_s: float = 5.0
) -> tuple[StreamProgress, io.StringIO, FakeClock]:
    clock, stream = FakeClock(), io.StringIO()
    progress = StreamProgress(
        stream, interactive=interactive, width=width, interval_s=interval_s, clock=clock
    )
    return progress, stream, clock


def _frames(text: str) -> list[str]:
    """What a terminal shows after each carriage return (the live line's redraws)."""
    return [frame for frame in text.split("\r") if frame]


# -- on a terminal ---------------------------------------------------------------------------------------


def test_live_line_shows_percentage_counts_rate_and_eta() -> None:
    progress, stream, clock = _progress(interactive=True)
    progress.stage("benchmarking")
    clock.now += 2.0
    progress.update(200, 1000, "measuring")
    frame = _frames(stream.getvalue().split("\n", 1)[1])[-1]
    assert (
        frame == "  [###................]  20%  200/1000  100/s  ETA 0:08  measuring"
    )  # 19: a quarter of 80


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_live_line_never_reaches_the_last_column(width: int) -> None:
    progress, stream, clock = _progress(interactive=True, width=width)
    progress.stage("training")
    for epoch in range(1, 6):
        clock.now += 1.0
        progress.update(epoch, 5, f"epoch {epoch} loss 0.1234 val_acc 0.9876 and a long detail " * 3)
    frames = _frames(stream.getvalue().split("\n", 1)[1])
    assert len(frames) == 5
    assert all(len(frame) <= width - 1 for frame in frames)
    assert frames[-1].startswith("  [")  # the bar stays; the detail is what is cut
    assert "\n" not in stream.getvalue().split("\n", 1)[1]  # one line, redrawn


def test_live_line_adapts_to_the_bar_width_and_clears_fully() -> None:
    progress, stream, clock = _progress(interactive=True, width=50)
    progress.stage("x")
    clock.now += 1
    progress.update(5, 10)
    progress.done("finished")
    after_stage = stream.getvalue().split("\n", 1)[1]
    drawn, cleared = after_stage.split("\r")[1], after_stage.split("\r")[2]
    assert drawn.startswith("  [") and len(drawn) <= 49
    assert cleared == " " * len(drawn)
    assert after_stage.endswith("  finished (1.0 s)\n")


def test_redraws_are_throttled_on_a_terminal_but_the_last_one_is_drawn() -> None:
    progress, stream, clock = _progress(interactive=True)
    progress.stage("x")
    for i in range(1, 100):
        clock.now += 0.01
        progress.update(i, 100)
    clock.now += 0.01
    progress.update(100, 100)
    frames = _frames(stream.getvalue().split("\n", 1)[1])
    assert 9 <= len(frames) <= 12  # every 0.1 s of a 1 s stage, plus 100 %
    assert " 100%  100/100" in frames[-1]


# -- outside a terminal ----------------------------------------------------------------------------------


def test_log_lines_at_most_every_interval() -> None:
    progress, stream, clock = _progress(interactive=False, interval_s=5.0)
    progress.stage("calibrating")
    for i in range(1, 97):  # 12 s, an update every 0.125 s
        clock.now += 0.125
        progress.update(i, 96, "calibration samples")
    progress.done("done")
    lines = stream.getvalue().splitlines()
    assert lines == [
        "- calibrating",
        "   42%  40/96  8/s  ETA 0:07  calibration samples",
        "   83%  80/96  8/s  ETA 0:02  calibration samples",
        "  done (12.0 s)",
    ]
    assert "\r" not in stream.getvalue()


def test_steps_write_a_line_each_outside_a_terminal() -> None:
    progress, stream, clock = _progress(interactive=False, interval_s=5.0)
    progress.stage("training digits-cnn on digits")
    for epoch in range(1, 4):
        clock.now += 0.5
        progress.step(epoch, 3, f"epoch {epoch} loss 0.5")
    lines = stream.getvalue().splitlines()
    assert lines == [
        "- training digits-cnn on digits",
        "   33%  1/3  2/s  ETA 0:01  epoch 1 loss 0.5",
        "   67%  2/3  2/s  ETA 0:00  epoch 2 loss 0.5",
        "  100%  3/3  2/s  epoch 3 loss 0.5",
    ]


def test_interval_zero_writes_every_update() -> None:
    progress, stream, _clock = _progress(interactive=False, interval_s=0.0)
    progress.stage("x")
    for i in range(1, 4):
        progress.update(i)
    assert stream.getvalue().splitlines() == ["- x", "  1", "  2", "  3"]


def test_interval_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGEAI_PROGRESS_INTERVAL", raising=False)
    assert interval_from_env() == 5.0
    monkeypatch.setenv("EDGEAI_PROGRESS_INTERVAL", "0.5")
    assert interval_from_env() == 0.5
    assert StreamProgress(io.StringIO()).interval_s == 0.5
    monkeypatch.setenv("EDGEAI_PROGRESS_INTERVAL", "soon")
    assert interval_from_env() == 5.0
    monkeypatch.setenv("EDGEAI_PROGRESS_INTERVAL", "-3")
    assert interval_from_env() == 0.0


def test_a_stream_that_is_not_a_terminal_is_detected() -> None:
    assert StreamProgress(io.StringIO()).interactive is False


def test_the_rate_restarts_when_a_new_phase_counts_from_zero() -> None:
    progress, stream, clock = _progress(interactive=False, interval_s=0.0)
    progress.stage("benchmark")
    clock.now += 1.0
    progress.update(10, 10, "warm-up")
    clock.now += 1.0
    progress.update(5, 100, "measuring")  # the base moves here: no rate yet
    clock.now += 1.0
    progress.update(55, 100, "measuring")
    assert stream.getvalue().splitlines()[1:] == [
        "  100%  10/10  10/s  warm-up",
        "    5%  5/100  measuring",
        "   55%  55/100  50/s  ETA 0:01  measuring",
    ]


def test_default_progress_step_hands_over_to_update() -> None:
    seen: list[tuple[float, float | None, str]] = []

    class Recorder(Progress):
        def update(self, done: float, total: float | None = None, detail: str = "") -> None:
            seen.append((done, total, detail))

    Recorder().step(2, 5, "epoch 2")
    assert seen == [(2, 5, "epoch 2")]


# -- two stopping rules ----------------------------------------------------------------------------------


def test_stopping_fraction_takes_the_binding_minimum_and_the_caps() -> None:
    # 1000 samples taken in 0.2 s of a 1 s minimum: 20 %, not 100 %
    assert stopping_fraction(1000, 0.2, min_count=1000, min_duration_s=1.0) == pytest.approx(0.2)
    assert stopping_fraction(250, 2.0, min_count=1000, min_duration_s=1.0) == pytest.approx(0.25)
    assert stopping_fraction(5, 0.0, min_count=10, min_duration_s=0.0) == pytest.approx(0.5)
    assert stopping_fraction(0, 0.0, min_count=0, min_duration_s=0.0) == 1.0
    assert stopping_fraction(5000, 0.2, min_count=100, min_duration_s=10.0, max_count=10000) == 0.5
    assert stopping_fraction(10, 3.0, min_count=1000, min_duration_s=1.0, max_duration_s=4.0) == 0.75
    assert stopping_fraction(2000, 2.0, min_count=1000, min_duration_s=1.0) == 1.0


def test_progress_total_projects_the_samples_of_the_binding_rule() -> None:
    assert progress_total(250, 0.5, min_count=1000, min_duration_s=1.0) == 1000.0  # the count binds
    assert progress_total(1000, 0.25, min_count=1000, min_duration_s=1.0) == pytest.approx(4000.0)
    assert progress_total(1200, 1.5, min_count=1000, min_duration_s=1.0) == 1200.0  # stopped
    assert progress_total(0, 0.0, min_count=100, min_duration_s=1.0) == 100.0


class Recording(Progress):
    def __init__(self) -> None:
        self.updates: list[tuple[float, float | None, str]] = []

    def update(self, done: float, total: float | None = None, detail: str = "") -> None:
        self.updates.append((done, total, detail))


def test_benchmark_never_reports_done_while_the_minimum_duration_runs() -> None:
    progress = Recording()
    result = run_benchmark(
        lambda i: lambda: None,
        BenchmarkSettings(warmup=0, min_count=5, min_duration_s=0.3),
        progress=progress,
    )
    measuring = [u for u in progress.updates if u[2].startswith("measuring")]
    assert measuring[-1][:2] == (len(result.samples_ns), len(result.samples_ns))
    assert all(done < total for done, total, _ in measuring[:-1] if total is not None)
    assert measuring[-1][2].endswith("(at least 5 samples, 0.3 s)")


# -- formatting -----------------------------------------------------------------------------------------


def test_formatting() -> None:
    assert [format_count(v) for v in (3, 950, 9999, 12_345, 4_560_000, 2.5)] == [
        "3", "950", "9999", "12.3k", "4.56M", "2.5",
    ]  # fmt: skip
    assert [format_duration(s) for s in (0.4, 7, 750, 3723)] == ["0:00", "0:07", "12:30", "1:02:03"]


# -- a real command writing to a log ---------------------------------------------------------------------


@pytest.mark.subprocess
def test_train_writes_per_epoch_lines_to_a_piped_stderr(
    tmp_path: Path, edgeai_console: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    run = edgeai_console(
        "train", "numpy-mlp", "gaussian-blobs", "-o", str(tmp_path / "mlp"), "--epochs", "4", cwd=tmp_path
    )
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert "- training numpy-mlp on gaussian-blobs" in lines
    epochs = [line for line in lines if "  epoch " in line]
    assert [line.split("  epoch ")[1].split(" ")[0] for line in epochs] == ["1", "2", "3", "4"]
    assert epochs[0].startswith("   25%  1/4  ") and epochs[-1].startswith("  100%  4/4  ")
    assert "\r" not in run.stderr


def test_every_epoch_of_a_trainer_is_a_step() -> None:
    from edgeai_core.training import EpochBook, TrainSettings

    steps: list[tuple[float, float | None, str]] = []

    class Steps(Progress):
        def step(self, done: float, total: float | None = None, detail: str = "") -> None:
            steps.append((done, total, detail))

    book = EpochBook(TrainSettings(epochs=2, batch_size=8, learning_rate=0.1), Steps())
    book.epoch_end(1, 0.5, 0.75, 0.1, lambda: None)
    book.epoch_end(2, 0.25, None, 0.1, lambda: None)
    assert steps == [(1, 2, "epoch 1 loss 0.5000 val_acc 0.7500"), (2, 2, "epoch 2 loss 0.2500 val_acc n/a")]
