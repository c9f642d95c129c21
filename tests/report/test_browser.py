"""The HTML report in a real browser: headless Chromium opens it from disk (file://, no server).

Skipped when Chromium is not installed here; CI installs it (.ci/run), so there it always runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageStat

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser") if shutil.which(n)), None)
pytestmark = [
    pytest.mark.subprocess,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"),
]
# background networking off: the machine has no network, and the page must need none
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]

# Injected into a copy of the page only: once everything loaded, write what each image decoded to.
PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images).map(img => ({
    complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    declared: [img.getAttribute("width"), img.getAttribute("height")].map(Number),
    scheme: img.src.split(":")[0]}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({images, title: document.title, tables: document.querySelectorAll("table").length});
  document.body.appendChild(out);
});
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_report_opens_from_disk_with_no_broken_image(comparison_report: Any, tmp_path: Path) -> None:
    page = comparison_report.files["html"]
    probe = tmp_path / "probe.html"  # beside nothing: the page must not need its img/ folder
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = _chromium(tmp_path, "--virtual-time-budget=15000", "--dump-dom", probe.as_uri())
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page did not finish loading: {proc.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert found["title"] == "edgeai comparison of 9 runs" and found["tables"] > 10
    images = found["images"]
    assert len(images) == len(comparison_report.plots)
    broken = [i for i, img in enumerate(images) if not img["complete"] or img["width"] == 0]
    assert not broken, f"broken images: {broken}"
    for img, plot in zip(images, comparison_report.plots, strict=True):
        assert img["scheme"] == "data"
        assert (img["width"], img["height"]) == (plot.width, plot.height) == tuple(img["declared"])


def test_screenshot_of_the_report_is_not_blank(comparison_report: Any, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    proc = _chromium(
        tmp_path, "--window-size=1280,2400", f"--screenshot={shot}", comparison_report.files["html"].as_uri()
    )
    assert shot.is_file(), proc.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1280, 2400)
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        white = sum(count for count, colour in colours if min(colour) > 245)
        assert white < 0.95 * 1280 * 2400, "the page is (nearly) empty"
        assert len(colours) > 200, "a page of tables and plots has many colours"
        assert max(ImageStat.Stat(rgb).stddev) > 20
        # the violin plot's first body (torch-eager, tab:blue) is on the first screen
        blue = sum(count for count, (r, g, b) in colours if b > 150 and r < 120 and 90 < g < 170)
        assert blue > 200, "no plot colours on the first screen"


# Injected into a copy of the page: the sections, the folded run sections, the images and what the page
# reads after the per-run sections are opened (as a reader would, by clicking their summaries).
DOM_PROBE = """<script>
window.addEventListener("load", () => {
  const sections = Array.from(document.querySelectorAll("details.section"));
  const closed = sections.filter(d => !d.open).map(d => d.id);
  const heightFolded = document.body.scrollHeight;
  sections.forEach(d => { if (!d.open) d.querySelector("summary").click(); });
  const images = Array.from(document.images).map(img => ({
    src: img.getAttribute("src") || "", width: img.naturalWidth, height: img.naturalHeight,
    shownWidth: img.getBoundingClientRect().width}));
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    h2: Array.from(document.querySelectorAll("details.section > summary > h2")).map(h => h.textContent),
    sections: sections.map(d => d.id), closed, heightFolded, heightOpen: document.body.scrollHeight,
    openAfter: sections.filter(d => d.open).length, images,
    callouts: Array.from(document.querySelectorAll(".callout")).map(c => c.textContent)});
  document.body.appendChild(out);
});
</script>"""


def test_report_dom_has_sections_folded_runs_and_no_empty_image(
    comparison_report: Any, tmp_path: Path
) -> None:
    page = comparison_report.files["html"]
    probe = tmp_path / "dom.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", DOM_PROBE + "</body>"), encoding="utf-8"
    )
    proc = _chromium(
        tmp_path, "--window-size=1280,1600", "--virtual-time-budget=15000", "--dump-dom", probe.as_uri()
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, f"the page did not finish loading: {proc.stderr[-2000:]}"
    found = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    for section in (
        "Runs",
        "Latency",
        "Quality",
        "Per-stage deltas",
        "Resource use",
        "Provenance",
        "Runs in detail",
    ):
        assert section in found["h2"], found["h2"]
    # one folded section per run, closed until opened: the page is much shorter folded
    slugs = [s for s in found["closed"]]
    assert len(slugs) == 9 and all(s in found["sections"] for s in slugs)
    assert found["openAfter"] == len(found["sections"])
    assert found["heightOpen"] > 2 * found["heightFolded"]
    # every image has a non-empty source, decoded to a real size, and is shown once its section is open
    assert found["images"] and all(
        img["src"].startswith("data:image/png;base64,") and len(img["src"]) > 100 for img in found["images"]
    )
    assert all(img["width"] > 0 and img["height"] > 0 and img["shownWidth"] > 0 for img in found["images"])
    # the interrupted run's sentence reads as one
    interrupted = [c for c in found["callouts"] if c.startswith("Run interrupted in stage")]
    assert interrupted and all(" ." not in c and ".." not in c for c in interrupted), interrupted
