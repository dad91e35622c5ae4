"""Airflow version flags (the pattern official providers copy into each package)."""

from __future__ import annotations


def _airflow_version_tuple() -> tuple[int, int, int]:
    from airflow import __version__
    from packaging.version import Version

    release = Version(Version(__version__).base_version).release
    major, minor, micro = ((*tuple(release), 0, 0, 0))[:3]
    return major, minor, micro


AIRFLOW_V_3_0_PLUS: bool = _airflow_version_tuple() >= (3, 0, 0)
