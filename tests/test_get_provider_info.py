"""Provider registration: the metadata is valid and Airflow discovers the provider and its connection type."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from airflow_provider_braze.get_provider_info import get_provider_info


def test_provider_info_is_valid_against_airflows_schema():
    import airflow
    import jsonschema

    schema_file = resources.files(airflow) / "provider_info.schema.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_package_name_and_user_agent_carry_the_distribution_name():
    from pathlib import Path

    import tomllib

    from airflow_provider_braze import __version__
    from airflow_provider_braze.client.transport.connection_params import USER_AGENT

    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())["project"]
    # Airflow refuses a provider whose package-name differs from the installed distribution's name.
    assert get_provider_info()["package-name"] == project["name"] == "airflow-provider-braze-messaging"
    assert f"{project['name']}/{__version__}" == USER_AGENT


def test_every_declared_module_imports_and_the_hook_class_exists():
    import importlib

    info = get_provider_info()
    modules = [
        m
        for kind in ("hooks", "operators", "sensors", "triggers")
        for e in info.get(kind, [])
        for m in e["python-modules"]
    ]
    modules += [t["python-module"] for t in info.get("transfers", [])]
    assert "airflow_provider_braze.transfers.analytics_to_sql" in modules
    for module in modules:
        importlib.import_module(module)
    module_name, _, class_name = info["connection-types"][0]["hook-class-name"].rpartition(".")
    hook = getattr(importlib.import_module(module_name), class_name)
    assert (hook.conn_type, hook.default_conn_name) == ("braze", "braze_default")
    for link in info.get("extra-links", []):
        module_name, _, class_name = link.rpartition(".")
        getattr(importlib.import_module(module_name), class_name)


def test_providers_manager_knows_the_braze_connection_type():
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert "airflow-provider-braze-messaging" in manager.providers
    hook_info = manager.hooks["braze"]
    assert hook_info is not None
    assert hook_info.hook_class_name == "airflow_provider_braze.hooks.braze.BrazeHook"
    behaviour = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "REST endpoint", "password": "REST API key"}


def test_airflow2_field_behaviour_matches_the_declarative_one():
    from airflow_provider_braze.hooks.braze import BrazeHook

    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    legacy = BrazeHook.get_ui_field_behaviour()
    # one definition: the whole form (placeholders included) is the declarative one, keys spelled Airflow 2's way
    assert legacy == {key.replace("-", "_"): value for key, value in declared.items()}
    assert legacy["placeholders"]["extra"]


def test_airflow2_field_behaviour_is_a_copy_a_caller_cannot_corrupt():
    from airflow_provider_braze.hooks.braze import BrazeHook

    BrazeHook.get_ui_field_behaviour()["hidden_fields"].append("host")
    assert "host" not in get_provider_info()["connection-types"][0]["ui-field-behaviour"]["hidden-fields"]


def test_port_stays_visible_so_airflow_3_3_test_button_can_work():
    """Airflow 3.3.2's Test button sends ``port: 0`` for a connection without a port, and its API answers
    400 "host or port differs" (apache/airflow#73298): a typed port is the user's way round it."""
    from airflow_provider_braze.hooks.braze import BrazeHook

    declared = get_provider_info()["connection-types"][0]["ui-field-behaviour"]
    legacy = BrazeHook.get_ui_field_behaviour()
    assert "port" not in declared["hidden-fields"]
    assert "port" not in legacy["hidden_fields"]
    assert declared["placeholders"]["port"] == legacy["placeholders"]["port"]
    assert "443" in legacy["placeholders"]["port"]


@pytest.mark.parametrize("host", ["https://rest.iad-01.braze.com", "rest.fra-02.braze.eu", "US-01"])
def test_port_443_typed_for_a_braze_host_changes_nothing(host):
    from airflow_provider_braze.client.instances import resolve_rest_endpoint

    assert resolve_rest_endpoint(host, port=443) == resolve_rest_endpoint(host)


@pytest.mark.e2e
def test_airflow_providers_list_shows_the_provider(airflow_cli):
    result = airflow_cli("providers", "list")
    assert result.returncode == 0, result.stderr
    assert "airflow-provider-braze-messaging" in result.stdout


@pytest.mark.e2e
def test_airflow_connections_test_succeeds_against_the_sandbox(airflow_cli, braze_sandbox):
    result = airflow_cli("connections", "test", "braze_default", env=braze_sandbox.airflow_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success" in result.stdout
    [request] = braze_sandbox.requests
    assert (request.method, request.path, request.status) == ("GET", "/messages/scheduled_broadcasts", 200)


@pytest.mark.e2e
def test_airflow_connections_test_explains_a_wrong_key(airflow_cli, braze_sandbox):
    result = airflow_cli("connections", "test", "braze_default", env=braze_sandbox.airflow_env(api_key="wrong-key-xyz"))
    output = result.stdout + result.stderr
    assert "Connection failed" in output
    assert "another Braze instance" in output
    assert braze_sandbox.url in output
    assert "wrong-key-xyz" not in output


@pytest.mark.e2e
def test_airflow_connections_test_names_the_missing_permission(airflow_cli, braze_sandbox):
    braze_sandbox.configure(api_keys={"sends-only": frozenset({"campaigns.trigger.send"})})
    result = airflow_cli("connections", "test", "braze_default", env=braze_sandbox.airflow_env(api_key="sends-only"))
    assert "messages.schedule_broadcasts" in result.stdout + result.stderr


def test_airflow2_form_widgets_cover_every_declared_field():
    from airflow_provider_braze.version_compat import AIRFLOW_V_3_0_PLUS

    if AIRFLOW_V_3_0_PLUS:
        pytest.skip("Airflow 3 builds the form from the declarative conn-fields")
    from airflow.providers_manager import ProvidersManager

    from airflow_provider_braze.get_provider_info import CONN_FIELDS

    widgets = ProvidersManager().connection_form_widgets
    assert {f"extra__braze__{name}" for name in CONN_FIELDS} <= set(widgets)


def test_prefixed_airflow2_form_extras_are_read(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BRAZE_DEFAULT",
        json.dumps({"conn_type": "braze", "host": "US-03", "password": "k", "extra": {"extra__braze__timeout": "9"}}),
    )
    from airflow_provider_braze.hooks.braze import BrazeHook

    assert BrazeHook().params.settings.timeout == 9.0


@pytest.mark.e2e
def test_connection_from_a_secrets_backend(airflow_cli, braze_sandbox, tmp_path):
    connections = tmp_path / "connections.json"
    connections.write_text(json.dumps({"braze_default": json.loads(braze_sandbox.connection_json())}))
    env = {
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(connections)}),
    }
    result = airflow_cli("connections", "test", "braze_default", env=env)
    assert "Connection success" in result.stdout, result.stdout + result.stderr
    assert len(braze_sandbox.requests) == 1
