"""Registration of the shipped target profiles: every ``profiles/*.toml`` file of this package.

Cheap to import: reading a few small TOML files happens when the hook is called, and imports no framework.
"""

from __future__ import annotations

from importlib import resources

from edgeai_core.api import TargetProfile, hookimpl, read_target_text

PROFILES = "profiles"


def shipped_profiles() -> list[TargetProfile]:
    """The profiles in this package's data files, in file-name order."""
    folder = resources.files("edgeai_targets") / PROFILES
    found: list[TargetProfile] = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            text = entry.read_text(encoding="utf-8")
            found += read_target_text(text, f"edgeai_targets/{PROFILES}/{entry.name}")
    return found


@hookimpl
def edgeai_register_targets() -> list[TargetProfile]:
    return shipped_profiles()
