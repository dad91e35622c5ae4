"""Check what ``python -m build`` produced: the files in the wheel and sdist and the wheel's metadata.

    python .ci/check_dist_contents.py dist/

The wheel is what users install, so it holds the import package and nothing else: the provider's
modules, ``py.typed`` (the package is typed), the Braze sandbox and pytest plugin under
``airflow_provider_braze/testing/`` (users test their DAGs with them), the license. It holds no tests
and no example DAGs: both would land in site-packages as top-level ``tests``/``example_dags`` packages
that clash with other distributions' and a user's own; example DAGs are documentation, shipped in the
sdist and the repository. The sdist is for rebuilding and for packagers who run the tests, so it holds
tests, example DAGs and docs as well.
"""

from __future__ import annotations

import email.parser
import re
import sys
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "airflow_provider_braze"
DIST_NAME = "airflow-provider-braze-messaging"


def source_version() -> str:
    """``__version__`` from the package's ``__init__.py``, the single source of the version."""
    match = re.search(r'^__version__ = "([^"]+)"$', (ROOT / PACKAGE / "__init__.py").read_text(), re.M)
    assert match, "no __version__ in airflow_provider_braze/__init__.py"
    return match[1]


def expected_package_files() -> set[str]:
    """Every file of the import package in the checkout, as wheel paths (caches excluded)."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / PACKAGE).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}
    }


def check_wheel(wheel: Path, version: str) -> list[str]:
    """Return the problems found in the wheel (empty when it is right); print its file list."""
    problems: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = f"airflow_provider_braze_messaging-{version}.dist-info"
        metadata = email.parser.Parser().parsestr(archive.read(f"{dist_info}/METADATA").decode())
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode()
    print(f"{wheel.name}: {len(names)} files")
    for name in names:
        print(f"  {name}")

    tops = {PurePosixPath(name).parts[0] for name in names}
    if tops != {PACKAGE, dist_info}:
        problems.append(f"top-level entries other than the package and its dist-info: {sorted(tops)}")
    in_package = {name for name in names if name.startswith(f"{PACKAGE}/")}
    if missing := expected_package_files() - in_package:
        problems.append(f"package files missing from the wheel: {sorted(missing)}")
    if extra := in_package - expected_package_files():
        problems.append(f"files in the wheel that the checkout's package does not have: {sorted(extra)}")
    for required in (
        f"{PACKAGE}/py.typed",
        f"{PACKAGE}/testing/sandbox/__main__.py",
        f"{PACKAGE}/testing/pytest_plugin.py",
        f"{dist_info}/licenses/LICENSE",
    ):
        if required not in names:
            problems.append(f"{required} is not in the wheel")
    for name in names:
        parts = PurePosixPath(name).parts
        if {"tests", "example_dags", "benchmarks", "__pycache__"} & set(parts) or name.endswith((".pyc", ".pyo")):
            problems.append(f"{name} must not be in the wheel")

    if metadata["Name"] != DIST_NAME:
        problems.append(f"METADATA Name is {metadata['Name']!r}, not {DIST_NAME!r}")
    if metadata["Version"] != version:
        problems.append(f"METADATA Version is {metadata['Version']!r}, __version__ is {version!r}")
    if metadata.get("License-Expression") != "Apache-2.0":
        problems.append(f"METADATA License-Expression is {metadata.get('License-Expression')!r}")
    extras = set(metadata.get_all("Provides-Extra") or [])
    if not {"sql", "demo", "test"} <= extras:
        problems.append(f"METADATA Provides-Extra lacks sql/demo/test: {sorted(extras)}")
    if "provider_info = airflow_provider_braze.get_provider_info:get_provider_info" not in entry_points:
        problems.append("entry_points.txt has no apache_airflow_provider provider_info entry point")
    return problems


def check_sdist(sdist: Path, version: str) -> list[str]:
    """Return the problems found in the sdist (empty when it is right)."""
    prefix = f"airflow_provider_braze_messaging-{version}/"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(prefix) for name in archive.getnames()}
    print(f"{sdist.name}: {len(names)} files")
    problems = [
        f"{required} is not in the sdist"
        for required in (
            "LICENSE",
            "README.md",
            "CHANGELOG.md",
            "pyproject.toml",
            f"{PACKAGE}/py.typed",
            "tests/conftest.py",
            "example_dags/example_braze_send_id.py",
            "docs/releasing.md",
        )
        if required not in names
    ]
    problems += [
        f"{name} must not be in the sdist"
        for name in names
        if name.startswith((".venv", ".git/", ".airflow-home", ".dist-check", "dist/")) or "__pycache__" in name
    ]
    return problems


def main(dist_dir: str) -> int:
    version = source_version()
    wheels = sorted(Path(dist_dir).glob("*.whl"))
    sdists = sorted(Path(dist_dir).glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        print(f"expected one wheel and one sdist in {dist_dir}, found {wheels + sdists}", file=sys.stderr)
        return 1
    problems = check_wheel(wheels[0], version) + check_sdist(sdists[0], version)
    if f"## [{version}]" not in (ROOT / "CHANGELOG.md").read_text():
        problems.append(f"CHANGELOG.md has no '## [{version}]' section for the version being built")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("dist contents: " + ("FAILED" if problems else "OK"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "dist"))
