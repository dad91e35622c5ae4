"""Apache Airflow provider for Braze's messaging REST API.

Nothing is imported here on purpose: DAG files import operator modules directly, and
importing this package must stay free of Airflow, network and connection lookups.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
