"""Sandbox-side refusals: Braze's status and ``message`` for a request that breaks a rule.

The rules themselves live in :mod:`airflow_provider_braze.payload_validation` (shared with the
operators); this module turns their errors, and the sandbox's own state checks (unknown schedule
ids, daily send-id budget), into Braze-shaped answers.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_braze.payload_validation import PayloadRuleError


class Rejection(Exception):  # noqa: N818 - a Braze answer, not a bug
    """A request Braze would refuse.

    :param status: HTTP status.
    :param message: Braze's ``message``.
    :param errors: details (field and rule).
    """

    def __init__(self, status: int, message: str, *errors: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = list(errors)

    @classmethod
    def from_rule(cls, error: PayloadRuleError) -> Rejection:
        """The 400 Braze answers for a broken payload rule."""
        return cls(400, error.braze_message, str(error))

    def body(self) -> dict[str, Any]:
        """The JSON body Braze answers with."""
        return {"message": self.message, "errors": self.errors}
