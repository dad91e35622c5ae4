"""The send engine: from recipients in a warehouse or a list to settled batches, and back.

It owns planning a data-driven send (reading the source, checking every recipient, refusing or
dropping duplicates, spooling to disk, cutting batches under Braze's count and byte limits), sending
the batches concurrently through the hook, the resume record that makes a retry send nothing twice,
the reconciliation of unknown outcomes, and the warehouse tables written back (per-recipient
outcomes, analytics). The operators import only :mod:`~airflow_provider_braze.engine.send_options` (the option
enums their constructors default to) when a DAG file is parsed, and the rest when a task runs.

It may import :mod:`airflow_provider_braze.client`, :mod:`airflow_provider_braze.exceptions` and,
inside functions, the hooks; never the operators, sensors, triggers or ``testing/``
(``tests/test_layers.py`` checks it).
"""
