"""The ``scenario`` section of a run (offline and server scenarios, edgeai_core.scenarios) in a report: a table
of the scenario's runs and, for a QPS search, the curve of the achieved latency percentile against the
offered QPS with the latency bound."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgeai_report.document import Bullets, Callout, Heading, Image, Paragraph, Table, text
from edgeai_report.units import fixed

if TYPE_CHECKING:
    from edgeai_report.content import PlotJob
    from edgeai_report.load import Run
    from edgeai_report.plots import PlotFile

QPS_CURVE_SIZE = (8.0, 4.2)

HEADER = [
    "offered QPS", "requests", "inferences/s", "p50 ms", "p90 ms", "p99 ms", "percentile ms",
    "upper bound ms", "bound ms", "bound met",
]  # fmt: skip


def _section(run: Run) -> dict[str, Any] | None:
    section = run.doc.get("scenario")
    return section if isinstance(section, dict) and section.get("runs") is not None else None


def _ms(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{value / 1e6:.3f}"


def _row(entry: dict[str, Any]) -> list[str]:
    latency = entry.get("latency_ns") or {}
    pct = entry.get("percentile") or {}
    met = entry.get("bound_met")
    upper = pct.get("upper_bound_ns")
    return [
        fixed(entry.get("offered_qps"), 1) if entry.get("offered_qps") is not None else "all at once",
        str(entry.get("count")),
        fixed(entry.get("inferences_per_s"), 1),
        _ms(latency.get("median")),
        _ms(latency.get("p90")),
        _ms(latency.get("p99")),
        f"p{pct.get('percentile', 99):g} {_ms(pct.get('value_ns'))}",
        _ms(upper) if upper is not None else f"needs {pct.get('min_samples')} samples",
        fixed(entry.get("latency_bound_ms"), 3) if entry.get("latency_bound_ms") is not None else "-",
        {True: "yes", False: "no", None: "-"}[met],
    ]


def scenario_plot_jobs(run: Run, img_dir: Path) -> list[PlotJob]:
    """The QPS search curve, for a run whose server scenario searched."""
    from edgeai_report.content import PlotJob

    section = _section(run)
    if section is None or not section.get("search"):
        return []
    points = [
        (float(r["offered_qps"]), r["percentile"].get("value_ns"), r.get("bound_met"))
        for r in section["runs"]
        if r.get("offered_qps") is not None and r.get("percentile")
    ]
    if not points:
        return []
    key = f"{run.slug}-qps-search"
    search = section["search"]
    return [
        PlotJob(
            key,
            "qps_curve",
            {
                "points": points,
                "percentile": float(section["settings"].get("latency_percentile", 99.0)),
                "bound_ms": section["settings"].get("latency_bound_ms"),
                "best_qps": search.get("best_qps"),
                "base": Path(f"{img_dir / run.slug}-qps-search"),
                "key": key,
                "title": f"{run.name}: QPS search",
            },
        )
    ]


def scenario_blocks(run: Run, plots: dict[str, PlotFile], level: int) -> list[Any]:
    """The scenario heading, its settings, the table of its runs and the QPS curve; nothing for a run
    without a scenario section (single-stream, or written before scenarios existed)."""
    section = _section(run)
    if section is None:
        return []
    settings = section.get("settings") or {}
    name = section.get("scenario")
    blocks: list[Any] = [Heading(level, f"Scenario: {name}", f"{run.slug}-scenario")]
    mode = {
        "threads": "worker threads sharing the runtime",
        "serialized": "worker threads taking turns: the runtime is not thread-safe",
        "pipelined": "requests pipelined over the wire protocol",
    }.get(str(section.get("mode")), str(section.get("mode")))
    facts = [
        text(f"concurrency: {settings.get('concurrency')} in flight ({mode})"),
        text(f"latency percentile: p{settings.get('latency_percentile', 99):g}"),
    ]
    if name == "server":
        facts.append(text(f"arrivals: Poisson, seed {settings.get('seed')}; latency counted from arrival"))
    blocks.append(Bullets(facts))
    runs = section.get("runs") or []
    blocks.append(
        Table(
            f"{run.slug}-scenario",
            "Scenario runs (latency from issue offline, from the scheduled arrival for the server; upper "
            "bound: early-stopping bound of the percentile at 99 % confidence)",
            list(HEADER),
            [_row(r) for r in runs],
            [True, True, True, True, True, True, False, False, True, False],
        )
    )
    search = section.get("search")
    if search:
        best = search.get("best_qps")
        line = (
            f"Highest QPS meeting the bound: {best:.1f} (bisection between {search.get('lower_qps'):.1f} and "
            f"{search.get('upper_qps'):.1f} QPS, {search.get('steps')} steps)."
            if best is not None
            else "No QPS in the searched range met the latency bound."
        )
        blocks.append(Paragraph(text(line)))
        if f"{run.slug}-qps-search" in plots:
            blocks.append(Image(plots[f"{run.slug}-qps-search"]))
    short = [r for r in runs if (r.get("percentile") or {}).get("enough_samples") is False]
    if short:
        blocks.append(
            Callout(
                "info",
                f"{len(short)} run(s) with too few samples for an upper bound of the percentile.",
                text("Raise benchmark.min_count or min_duration_s to bound the percentile claim."),
            )
        )
    return blocks


def qps_curve(
    points: list[tuple[float, int | None, bool | None]],
    percentile: float,
    bound_ms: float | None,
    best_qps: float | None,
    base: Path,
    key: str,
    title: str,
) -> PlotFile:
    """Achieved latency percentile against offered QPS, each tried point marked by whether it met the
    bound, with the bound as a line."""
    from edgeai_report.plots import PALETTE, _figure, _log, _save

    ordered = sorted((q, v / 1e6, met) for q, v, met in points if v is not None)
    fig = _figure(QPS_CURVE_SIZE, left=0.8)
    ax = fig.add_subplot()
    qps = [q for q, _, _ in ordered]
    ms = [v for _, v, _ in ordered]
    ax.plot(qps, ms, color=PALETTE[0], linewidth=1.2)
    for met, color, label in ((True, PALETTE[2], "met the bound"), (False, PALETTE[3], "missed the bound")):
        chosen = [(q, v) for q, v, m in ordered if m is met]
        if chosen:
            ax.scatter(
                [q for q, _ in chosen], [v for _, v in chosen], color=color, s=22, zorder=3, label=label
            )
    if bound_ms is not None:
        ax.axhline(bound_ms, color="black", linestyle="--", linewidth=1.0, label=f"bound {bound_ms:g} ms")
    if best_qps is not None:
        ax.axvline(best_qps, color=PALETTE[2], linestyle=":", linewidth=1.0, label=f"best {best_qps:.1f} QPS")
    if ms and max(ms) / max(min(ms), 1e-9) > 30:
        _log(ax, "y")
    ax.set_xlabel("offered QPS (Poisson arrivals)")
    ax.set_ylabel(f"p{percentile:g} latency (ms)")
    ax.set_title(title)
    ax.legend(loc="upper left")
    caption = f"QPS search: p{percentile:g} latency, counted from the scheduled arrival, at each offered QPS."
    return _save(fig, base, key, caption, f"{title}: p{percentile:g} latency against offered QPS")
