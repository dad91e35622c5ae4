"""The ``status`` of the event a Braze trigger fires, as its task's ``execute_complete`` reads it.

Kept apart from :mod:`airflow_provider_braze.triggers.base` so that the operators and sensors can
import it at DAG parse time without the trigger machinery. Events carry the plain string
(``WaitStatus.SUCCESS.value``): they are stored by the triggerer, and deferred tasks of an earlier
version resume with the same strings.
"""

from __future__ import annotations

from airflow_provider_braze.client.str_enum import StrEnum


class WaitStatus(StrEnum):
    """How a deferred wait ended."""

    #: the condition holds (the run finished, the broadcast is scheduled or sent).
    SUCCESS = "success"
    #: the condition can no longer hold (the broadcast left the list before its time).
    FAILED = "failed"
    #: an error a retry cannot fix (or a run status Braze does not document).
    ERROR = "error"
    #: the deadline passed.
    TIMEOUT = "timeout"
