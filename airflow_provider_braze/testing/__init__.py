"""Testing helpers shipped with the provider: the Braze sandbox and its pytest fixtures.

Nothing here imports Airflow, so the sandbox starts in a fraction of a second.
"""
