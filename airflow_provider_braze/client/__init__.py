"""The Braze API as data and rules, without Airflow: what the hooks speak.

It owns the endpoints (paths, methods, permissions, rate-limit buckets), Braze's payload rules and the
checks that raise :class:`~airflow_provider_braze.client.payload_validation.PayloadRuleError` naming the
field, schedule and time rules, the REST instances, the reading of Braze's answers (CDI job pages,
scheduled broadcasts, analytics series, transactional "already queued"), and ``transport/``: retries,
the shared rate limiter and the classification of every answer as accepted, not processed or unknown.

It may import the standard library, ``requests``/``tenacity``/``pendulum`` and
:mod:`airflow_provider_braze.exceptions`; never ``engine/``, the Airflow-facing packages or
``testing/`` (``tests/test_layers.py`` checks it).
"""
