"""Release metadata of every distribution under packages/: one version, complete metadata, honest requirements.

    python tools/release.py check            list every metadata problem (exit 1 if any); `nox -s metadata`
    python tools/release.py version          print the release version
    python tools/release.py set-version X.Y.Z  write X.Y.Z everywhere a version lives, and ~=X.Y.Z sibling pins

The release version lives in edgeai-core's ``__version__`` (packages/edgeai-core/src/edgeai_core/__init__.py).
Every other package carries the same number, in its own ``__version__`` (read by hatchling through
``[tool.hatch.version]``) or, for the code-free meta-distribution ``edgeai``, as a static ``version``; every
requirement on a sibling (``edgeai-*``) is ``~=`` that version. ``set-version`` rewrites all of them at once and
``check`` fails when any disagrees, so a release has one version source in effect.

A new package under packages/ is covered without editing this file: ``check`` globs packages/*/pyproject.toml.
Only the standard library is used (tomllib, or tomli on Python 3.10), so nox can import it in-process.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CORE_VERSION_FILE = Path("packages/edgeai-core/src/edgeai_core/__init__.py")
#: Python versions every package declares (classifiers) and CI resolves against
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
LICENSE_EXPRESSION = "Apache-2.0"
SIBLING = re.compile(r"^(edgeai(?:-[a-z0-9]+)*)\s*(\[[^\]]*\])?\s*(.*)$")
_VERSION_ASSIGN = re.compile(r'^(__version__\s*=\s*)["\']([^"\']+)["\']', re.M)
_STATIC_VERSION = re.compile(r'^(version\s*=\s*)"([^"]+)"', re.M)
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_RELATIVE_LINK = re.compile(r"\]\((?!https?://|mailto:)([^)\s]+)\)")
_REQUIRED_CLASSIFIER_PREFIXES = (
    "Operating System ::",
    "Topic ::",
    "Development Status ::",
    "Intended Audience ::",
)


@dataclass(frozen=True)
class Package:
    """One distribution folder under packages/."""

    folder: Path
    project: dict[str, Any]
    tool: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.project.get("name", self.folder.name))

    @property
    def version_file(self) -> Path | None:
        """The file hatchling reads the version from, or None for a static ``version``."""
        path = self.tool.get("hatch", {}).get("version", {}).get("path")
        return self.folder / path if path else None

    @property
    def version(self) -> str | None:
        if "version" in self.project:
            return str(self.project["version"])
        file = self.version_file
        if file is None or not file.is_file():
            return None
        found = _VERSION_ASSIGN.search(file.read_text(encoding="utf-8"))
        return found.group(2) if found else None

    def requirements(self) -> list[tuple[str, str]]:
        """``(where, requirement)`` for the base dependencies and every extra."""
        found = [("dependencies", r) for r in self.project.get("dependencies", [])]
        for extra, reqs in self.project.get("optional-dependencies", {}).items():
            found += [(f"[{extra}]", r) for r in reqs]
        return found


def packages(root: Path = ROOT) -> list[Package]:
    """Every packages/*/pyproject.toml with a [project] table, sorted by folder."""
    found = []
    for pyproject in sorted((root / "packages").glob("*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        if "project" in data:
            found.append(Package(pyproject.parent, data["project"], data.get("tool", {})))
    return found


def release_version(root: Path = ROOT) -> str:
    found = _VERSION_ASSIGN.search((root / CORE_VERSION_FILE).read_text(encoding="utf-8"))
    if not found:
        raise SystemExit(f"no __version__ in {CORE_VERSION_FILE}")
    return found.group(2)


def _sibling_spec(version: str) -> str:
    return f"~={version}"


def check(root: Path = ROOT) -> list[str]:
    """Every metadata problem of every package, one line each (empty when all is well)."""
    problems: list[str] = []
    license_file = root / "LICENSE"
    if not license_file.is_file():
        return ["LICENSE: missing at the repository root"]
    license_text = license_file.read_bytes()
    version = release_version(root)
    names = {p.name for p in packages(root)}
    for package in packages(root):
        where = package.folder.relative_to(root).as_posix()
        project = package.project

        def problem(text: str, where: str = where) -> None:
            problems.append(f"{where}: {text}")

        # the license: expression, file in the package folder (hatchling takes files below the project only)
        if project.get("license") != LICENSE_EXPRESSION:
            problem(f'license must be "{LICENSE_EXPRESSION}"')
        if "LICENSE" not in project.get("license-files", []):
            problem('license-files must list "LICENSE" (it is then in the wheel and the sdist)')
        copy = package.folder / "LICENSE"
        if not copy.is_file() or copy.read_bytes() != license_text:
            problem("LICENSE must be a copy of the repository's LICENSE (cp LICENSE " + where + "/)")
        # descriptive metadata
        for key in ("description", "readme", "requires-python", "authors", "keywords", "classifiers", "urls"):
            if not project.get(key):
                problem(f"[project] needs {key}")
        urls = project.get("urls", {})
        if urls and "Homepage" not in urls:
            problem("[project.urls] needs Homepage")
        for name, url in urls.items():
            if not str(url).startswith("https://"):
                problem(f"[project.urls] {name} must be an https:// address, not {url!r}")
        classifiers = project.get("classifiers", [])
        for python in PYTHONS:
            if f"Programming Language :: Python :: {python}" not in classifiers:
                problem(f"classifiers lack 'Programming Language :: Python :: {python}'")
        if any(c.startswith("License ::") for c in classifiers):
            problem(
                "no 'License ::' classifier: PEP 639 deprecates them; License-Expression states the license"
            )
        for prefix in _REQUIRED_CLASSIFIER_PREFIXES:
            if not any(c.startswith(prefix) for c in classifiers):
                problem(f"classifiers need one '{prefix} ...'")
        if project.get("requires-python") != ">=3.10":
            problem('requires-python must be ">=3.10" (CI resolves 3.10 to 3.13)')
        # one version
        if "version" not in project and "version" not in project.get("dynamic", []):
            problem('needs dynamic = ["version"] with [tool.hatch.version] path, or a static version')
        if package.version is None:
            problem("no version found (its [tool.hatch.version] file has no __version__)")
        elif package.version != version:
            problem(
                f"version {package.version} differs from the release version {version} ({CORE_VERSION_FILE})"
            )
        # requirements: siblings compatible with this release, no exact pins elsewhere
        for place, requirement in package.requirements():
            spec = requirement.split(";")[0].strip()
            sibling = SIBLING.match(spec)
            if sibling and sibling.group(1) in names:
                if sibling.group(3).replace(" ", "") != _sibling_spec(version):
                    problem(
                        f"{place} {requirement!r}: a sibling must be required as {_sibling_spec(version)}"
                    )
                continue
            if "==" in spec or "===" in spec:
                problem(
                    f"{place} {requirement!r}: an exact pin in a published package clashes with the user's "
                    "own install; use a compatible range (>=tested,<next major)"
                )
        # the README as an index shows it: no relative links, no files outside the repository
        readme = package.folder / str(project.get("readme", "README.md"))
        if not readme.is_file():
            problem(f"readme {readme.name} is missing")
            continue
        text = readme.read_text(encoding="utf-8")
        for target in _RELATIVE_LINK.findall(text):
            problem(f"{readme.name} links to {target!r}: a package index cannot follow relative links")
    return problems


def set_version(new: str, root: Path = ROOT) -> list[Path]:
    """Write ``new`` as every package's version and every sibling requirement as ``~=new``; the changed files."""
    if not re.fullmatch(r"\d+\.\d+\.\d+(?:(?:a|b|rc)\d+)?", new):
        raise SystemExit(f"not a release version: {new!r} (X.Y.Z, optionally aN/bN/rcN)")
    changed: list[Path] = []
    names = {p.name for p in packages(root)}
    sibling_pin = re.compile(
        r'"((?:' + "|".join(re.escape(n) for n in sorted(names)) + r')(?:\[[^\]]*\])?)~=[^";]+'
    )

    def rewrite(path: Path, text: str) -> None:
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)

    for package in packages(root):
        pyproject = package.folder / "pyproject.toml"
        text = pyproject.read_text(encoding="utf-8")
        if "version" in package.project:
            text = _STATIC_VERSION.sub(lambda m: f'{m.group(1)}"{new}"', text, count=1)
        text = sibling_pin.sub(lambda m: f'"{m.group(1)}~={new}', text)
        rewrite(pyproject, text)
        file = package.version_file
        if file is not None and file.is_file():
            rewrite(
                file, _VERSION_ASSIGN.sub(lambda m: f'{m.group(1)}"{new}"', file.read_text(encoding="utf-8"))
            )
    return changed


def main(argv: list[str]) -> int:
    if argv[:1] == ["check"]:
        problems = check()
        for line in problems:
            print(line)
        count = len(packages())
        print(
            f"{len(problems)} metadata problem(s) in {count} packages"
            if problems
            else f"ok: {count} packages"
        )
        return 1 if problems else 0
    if argv[:1] == ["version"]:
        print(release_version())
        return 0
    if argv[:1] == ["set-version"] and len(argv) == 2:
        for path in set_version(argv[1]):
            print(f"updated {path.relative_to(ROOT).as_posix()}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
