"""The comparison report's pruning/QAT section on real demo runs (fixtures/optimization, see fixtures/README.md):
the table of what the steps measured, the plain statement about unstructured sparsity, the two figures, and the
page in headless Chromium when it is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FOLDER = Path(__file__).parent / "fixtures" / "optimization"
RUNS = (
    "onnxruntime-float",
    "onnxruntime-int8",
    "torch-pruned-structured",
    "torch-pruned-unstructured",
    "torch-qat-int8",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from edgeai_report import render_report

    out = tmp_path_factory.mktemp("optimization")
    return render_report([FOLDER / f"{n}.json" for n in RUNS], out, jobs=1)


def _section(markdown: str) -> str:
    start = markdown.index("## Pruning and quantization-aware training")
    return markdown[start : markdown.index("## Per-stage deltas", start)]


def test_section_tabulates_what_the_steps_measured(report: Any) -> None:
    section = _section(report.files["md"].read_text(encoding="utf-8"))
    rows = {
        cells[0]: cells[1:]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| run") and not line.startswith("| ---")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert list(rows) == list(RUNS)
    assert rows["onnxruntime-float"][:2] == ["onnxruntime", "dense"]
    assert rows["onnxruntime-int8"][1] == "PTQ int8"
    assert rows["torch-pruned-structured"][1:5] == [
        "structured 50%",
        "23,946 -\\> 6,218",
        "0.0%",
        "194,176 -\\> 51,008",
    ]
    assert rows["torch-pruned-unstructured"][1:5] == ["unstructured 80%", "23,946", "80.0%", "194,176"]
    assert rows["torch-qat-int8"][1] == "QAT int8"
    assert rows["torch-pruned-unstructured"][6] == "0.9666" and rows["onnxruntime-float"][6] == "0.9721"


def test_section_says_unstructured_sparsity_gave_no_speed_up(report: Any) -> None:
    section = _section(report.files["md"].read_text(encoding="utf-8"))
    assert (
        "- torch-pruned-unstructured: 80% unstructured sparsity gives no speed-up on onnxruntime, a dense runtime "
        "(median 15.077 vs 14.279 us for the dense onnxruntime-float): the zero weights are still multiplied and "
        "its MAC count is unchanged; what it buys is a smaller compressed file (97.0 KiB raw, 29.2 KiB "
        "zip-deflated)."
    ) in section
    assert "structured pruning removed channels, so every runtime runs a smaller network" in section


def test_section_figures_are_drawn(report: Any) -> None:
    keys = {p.key: p for p in report.plots}
    for key in ("optimization-sparsity", "optimization-latency"):
        assert keys[key].png.stat().st_size > 1000 and keys[key].svg.is_file()
    assert keys["optimization-sparsity"].alt == "accuracy against sparsity of 5 runs"


def test_no_section_without_pruning_or_qat(tmp_path: Path) -> None:
    from edgeai_report import render_report

    done = render_report(
        [FOLDER / "onnxruntime-float.json", FOLDER / "onnxruntime-int8.json"], tmp_path, jobs=1
    )
    assert "Pruning and quantization-aware training" not in done.files["md"].read_text(encoding="utf-8")
    assert not any(p.key.startswith("optimization") for p in done.plots)


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(img => ({alt: img.alt, width: img.naturalWidth,
    complete: img.complete}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images});
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.subprocess
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_figures_render_in_headless_chromium(report: Any, tmp_path: Path) -> None:
    page = tmp_path / "probe.html"
    page.write_text(
        report.files["html"].read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
        encoding="utf-8",
    )
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page did not finish loading: {proc.stderr[-2000:]}"
    images = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))["images"]
    drawn = {i["alt"]: i for i in images}
    for alt in ("accuracy against sparsity of 5 runs", "accuracy against latency of 5 runs"):
        assert drawn[alt]["complete"] and drawn[alt]["width"] > 0
