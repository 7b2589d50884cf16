"""values.schema.json: Helm refuses bad values before rendering anything, naming the value."""

from __future__ import annotations

import json

import pytest

from tests.deploy.support import CHART, ci_values, pod_spec, render, workloads

helm = pytest.importorskip("helm_python")
SCHEMA = json.loads((CHART / "values.schema.json").read_text(encoding="utf-8"))


def refusal(values: dict) -> str:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError) as info:
        chart.validate_schema(ci_values("minimal") | values)
    return str(info.value)


@pytest.mark.parametrize(("values", "where"), [
    ({"relay": {"replicaCount": -1}}, "/relay/replicaCount"),
    ({"relay": {"replicaCount": "two"}}, "/relay/replicaCount"),
    ({"ingest": {"containerPort": 70000}}, "/ingest/containerPort"),
    ({"ingest": {"service": {"type": "ExternalName"}}}, "/ingest/service/type"),
    ({"image": {"repository": "x", "pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
    ({"image": {"repository": "x", "digest": "latest"}}, "/image/digest"),
    ({"consumers": {"targets": [{"name": "invoice", "enabled": True}]}}, "/consumers/targets/0/name"),
    ({"consumers": {"targets": [{"name": "deal", "enabled": "yes"}]}}, "/consumers/targets/0/enabled"),
    ({"consumers": {"targets": [{"name": "deal", "replicas": 2}]}}, "replicas"),
    ({"consumers": {"defaults": {"pdb": {"maxUnavailable": "half"}}}}, "/consumers/defaults/pdb/maxUnavailable"),
    ({"secrets": {"databaseUrl": "mysql://db/bridge"}}, "/secrets/databaseUrl"),
    ({"secrets": {"b24WebhookUrl": "https://portal.bitrix24.ru/"}}, "/secrets/b24WebhookUrl"),
    ({"env": {"log_level": "DEBUG"}}, "log_level"),
    ({"env": {"BRIDGE_LOG_LEVEL": ["DEBUG"]}}, "/env/BRIDGE_LOG_LEVEL"),
    ({"metrics": {"serviceMonitor": {"interval": "30 seconds"}}}, "/metrics/serviceMonitor/interval"),
    ({"metrics": {"prometheusRule": {"runbookBaseUrl": "https://git.example.com/repo"}}},
     "/metrics/prometheusRule/runbookBaseUrl"),
    ({"replicaCount": 2}, "replicaCount"),
    ({"probes": {"startup": {"successThreshold": 2}}}, "successThreshold"),  # Kubernetes allows only 1
    ({"probes": {"startup": {"failureThreshold": 0}}}, "/probes/startup/failureThreshold"),
    ({"helmTest": {"enabled": "yes"}}, "/helmTest/enabled"),
    ({"networkPolicy": {"ingestFrom": {"ipBlock": {"cidr": "10.0.0.0/8"}}}}, "/networkPolicy/ingestFrom"),
])
def test_schema_refuses_a_bad_value_and_says_where(values: dict, where: str):
    assert where in refusal(values)


@pytest.mark.parametrize("name", ["BRIDGE_DATABASE_URL", "BRIDGE_INGEST_TOKENS", "BRIDGE_B24_WEBHOOK_URL",
                                  "BRIDGE_CONSUMER_METRICS_PORT", "BRIDGE_MAPPING_FILE"])
def test_env_refuses_secrets_and_the_settings_the_chart_manages(name: str):
    assert name in refusal({"env": {name: "x"}})


def test_env_refuses_exactly_the_variables_the_chart_sets_itself_and_every_secret():
    """`env` lands in the Deployments in plain text: besides what the chart sets, every setting the code keeps
    secret (SecretStr) is refused, so a console password or session key cannot end up there by mistake."""
    import yaml

    from bridge.settings import Settings

    values = ci_values("everything")
    defaults = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    chosen = set(values["env"]) | set(defaults["env"])  # Helm merges the env maps
    set_by_chart = set()
    for m in workloads(render(values)):
        for container in pod_spec(m)["containers"]:
            set_by_chart |= {e["name"] for e in container["env"] if e["name"] not in chosen}
    refused = set(SCHEMA["properties"]["env"]["propertyNames"]["not"]["enum"])
    secret = {f"BRIDGE_{name.upper()}" for name, field in Settings.model_fields.items()
              if "SecretStr" in str(field.annotation)}
    assert "BRIDGE_CONSOLE_SESSION_KEY" in secret
    assert refused == set_by_chart | secret


def test_consumer_target_names_are_the_topology_targets():
    from bridge import topology

    assert SCHEMA["definitions"]["consumerTarget"]["properties"]["name"]["enum"] == list(topology.TARGETS)


def test_every_key_of_values_yaml_is_described_by_the_schema():
    import yaml

    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))

    def walk(value, schema, path):
        schema = resolve(schema)
        if isinstance(value, dict) and "properties" in schema:
            for key, child in value.items():
                assert key in schema["properties"], f"{path}{key} is not in values.schema.json"
                walk(child, schema["properties"][key], f"{path}{key}.")

    def resolve(schema):
        while "$ref" in schema:
            schema = SCHEMA["definitions"][schema["$ref"].rsplit("/", 1)[1]]
        return schema

    walk(values, SCHEMA, "")
