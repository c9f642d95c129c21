"""Report blocks saying how far the numbers can be trusted: a validity banner per run and the significance
table of a comparison (:mod:`edgeai_report.significance`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edgeai_report.document import Bullets, Callout, Paragraph, Table, text

if TYPE_CHECKING:
    from edgeai_report.compare import Comparison
    from edgeai_report.load import Run


def validity_blocks(run: Run) -> list[Any]:
    """A warning banner for a noisy run (the verdict first, then each reason); a short line for a clean one."""
    section = run.doc.get("validity")
    if not isinstance(section, Mapping):
        return []
    reasons = [str(r) for r in section.get("reasons") or []]
    if section.get("verdict") == "noisy":
        return [
            Callout(
                "warning",
                "Noisy run: the machine disturbed this measurement.",
                text(" ".join(_sentence(r) for r in reasons) or "See the validity checks in results.json."),
            )
        ]
    checked = len(section.get("checks") or [])
    return [Paragraph(text(f"Validity: clean ({checked} checks passed)."))]


def _sentence(reason: str) -> str:
    reason = reason.strip()
    return (reason[:1].upper() + reason[1:]).rstrip(".") + "."


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def significance_table(comp: Comparison) -> Table | None:
    """One row per compared pair: latency ratio with its interval and test, accuracy difference, flags."""
    if not comp.significance:
        return None
    rows = []
    for pair in comp.significance:
        lat = pair.latency
        acc = pair.accuracy or {}
        ci = acc.get("ci95_points")
        acc_text = "-"
        if acc:
            acc_text = f"{acc['difference_points']:+.2f} pts"
            acc_text += f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else f" (p={acc['p_value']:.3g})"
            acc_text += f", {acc['verdict']}"
        rows.append(
            [
                pair.run,
                pair.baseline,
                _fmt(lat.ratio if lat else None, ".3f"),
                f"[{lat.ci_low:.3f}, {lat.ci_high:.3f}]" if lat else "-",
                _fmt(lat.p_value if lat else None, ".3g"),
                lat.verdict if lat else "-",
                acc_text,
                ("noisy: " + ", ".join(pair.noisy)) if pair.noisy else "",
            ]
        )
    return Table(
        "significance",
        "Significance: median latency ratio (run / baseline) with a bootstrap 95% interval and the "
        "Mann-Whitney U test; accuracy difference with its 95% interval",
        ["run", "against", "median ratio", "95% CI", "p (Mann-Whitney)", "latency", "accuracy", "flag"],
        rows,
        [False, False, True, False, True, False, False, False],
    )


def significance_notes(comp: Comparison) -> Bullets | None:
    noisy = sorted({name for pair in comp.significance for name in pair.noisy})
    if not noisy:
        return None
    return Bullets(
        [
            text(
                f"{name} is noisy (see its validity banner): a difference involving it may be the machine's, "
                "not the model's."
            )
            for name in noisy
        ]
    )
