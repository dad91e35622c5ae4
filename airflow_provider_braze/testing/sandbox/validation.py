"""Sandbox-side refusals: Braze's status and ``message`` for a request that breaks a rule.

The rules themselves are the sandbox's own (:mod:`airflow_provider_braze.testing.sandbox.rules`,
written from Braze's documentation); this module is the shape of the answer.
"""

from __future__ import annotations

from typing import Any


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

    def body(self) -> dict[str, Any]:
        """The JSON body Braze answers with."""
        return {"message": self.message, "errors": self.errors}
