"""BrazeTransactionalHook: the hook the transactional operator sends through.

It is :class:`~airflow_provider_braze.hooks.braze.BrazeHook` under the name the transactional
operator has always used. Braze's answer to a repeated ``external_send_id`` ("The external reference
has been queued", sent within the last 24 hours) is an acceptance, not an error: that rule lives in
one place, :meth:`BrazeHook.send_transactional_email` (which the delivery engine sends every email
through), and ``deduplicated`` counts those answers on every hook.
"""

from __future__ import annotations

from airflow_provider_braze.hooks.braze import BrazeHook


class BrazeTransactionalHook(BrazeHook):
    """A Braze hook for transactional email: :meth:`send_transactional_email` returns the "already
    queued" answer as accepted and counts it in ``deduplicated``.

    :param braze_conn_id: the Braze connection.
    """
