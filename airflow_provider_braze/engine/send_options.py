"""The option values of a data-driven send, as the operators take them: cheap to import.

The operators' constructors name these as their defaults, so a DAG file imports this module when it
is parsed; it imports nothing but the str-Enum base, so parsing never loads the spool, the sender or
the resume record (:mod:`~airflow_provider_braze.engine.send_plan`,
:mod:`~airflow_provider_braze.engine.batch_sender`, :mod:`~airflow_provider_braze.engine.resume_ledger`:
``tests/test_dag_parsing.py`` checks it). Those modules apply the options when a task runs.
"""

from __future__ import annotations

from airflow_provider_braze.client.str_enum import StrEnum

#: How long a resume record is kept, in days (``resume_retention_days``).
DEFAULT_RETENTION_DAYS = 30.0


class OnInvalid(StrEnum):
    """``on_invalid``: what an invalid source row does."""

    FAIL = "fail"
    SKIP = "skip"


class OnDuplicate(StrEnum):
    """``on_duplicate``: what a user listed more than once in the source does."""

    FAIL = "fail"
    FIRST = "first"


class OnEmpty(StrEnum):
    """``on_empty``: what a source without any valid recipient does."""

    WARN = "warn"
    FAIL = "fail"


class OnUnknownOutcome(StrEnum):
    """``on_unknown_outcome``: what becomes of batches that may have been sent."""

    FAIL = "fail"
    SKIP = "skip"
    RESEND = "resend"
