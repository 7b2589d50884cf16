"""The Helm chart, rendered offline (helm-python-sdk = the Helm Go SDK): lint, Kubernetes 1.30 schemas, and what
each component gets."""

from __future__ import annotations

import copy
import json
import re

import click
import pytest
import yaml

from tests.deploy.support import (
    CHART,
    DASHBOARD,
    KUBE_VERSION,
    RELEASE,
    RULES,
    ci_values,
    env_names,
    of_kind,
    one,
    pod_spec,
    render,
    render_notes,
    secret_keys,
    workloads,
)

helm = pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

FULL = f"{RELEASE}-onec-b24-bridge"
CRDS = {"ServiceMonitor", "PrometheusRule"}


def test_values_yaml_alone_refuses_to_render_and_names_the_secrets_to_set():
    with pytest.raises(helm.HelmRenderError) as info:
        render({})
    message = str(info.value)
    assert "secrets.existingSecret" in message
    for value in ("secrets.databaseUrl", "secrets.amqpUrl", "secrets.ingestTokens", "secrets.b24WebhookUrl"):
        assert value in message


def test_only_the_secrets_the_enabled_components_need_are_required():
    values = {"secrets": {"databaseUrl": "postgresql://x@db/bridge", "ingestTokens": "t"},
              "relay": {"enabled": False}, "consumers": {"targets": []}}
    kinds = {m.kind for m in render(values)}
    assert "Deployment" in kinds  # the ingest alone needs no RabbitMQ URL and no Bitrix24 webhook


@pytest.mark.parametrize("name", ["minimal", "everything"])
def test_chart_lints_clean_and_every_object_is_valid_kubernetes(name: str):
    values = ci_values(name)
    report = helm.lint(str(CHART), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == [], report
    manifests = render(values)
    checked = 0
    for m in manifests:
        if m.kind in CRDS:
            continue
        try:
            kubernetes_validate.validate(m.doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{m.template}: {m.kind} {m.name}: {exc.message}")
        checked += 1
    assert checked >= 15


def test_everything_values_render_every_optional_object():
    manifests = render(ci_values("everything"))
    kinds = {m.kind for m in manifests}
    assert {"Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule",
            "ConfigMap", "Secret", "PodDisruptionBudget", "ServiceAccount", "Job"} <= kinds
    assert one(manifests, "ServiceMonitor", FULL).doc["metadata"]["labels"]["release"] == "kube-prometheus-stack"


def test_minimal_values_leave_the_optional_objects_out():
    kinds = {m.kind for m in render(ci_values("minimal"))}
    assert not kinds & {"Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor", "PrometheusRule",
                        "ConfigMap", "Secret"}


def test_one_consumer_deployment_per_enabled_target_runs_consume_for_it():
    values = ci_values("minimal") | {"consumers": {"targets": [
        {"name": "counterparty", "enabled": True}, {"name": "product", "enabled": False},
        {"name": "deal", "enabled": True, "replicaCount": 3}]}}
    manifests = render(values)
    consumers = [m for m in of_kind(manifests, "Deployment") if "-consumer-" in m.name]
    assert sorted(m.name for m in consumers) == [f"{FULL}-consumer-counterparty", f"{FULL}-consumer-deal"]
    deal = one(manifests, "Deployment", f"{FULL}-consumer-deal")
    assert pod_spec(deal)["containers"][0]["args"] == ["consume", "--entity", "deal"]
    assert deal.doc["spec"]["replicas"] == 3
    assert one(manifests, "Deployment", f"{FULL}-consumer-counterparty").doc["spec"]["replicas"] == 1


def test_consumers_are_recreated_on_upgrade_unless_a_target_asks_for_a_rolling_update():
    """Two releases never apply one target's events side by side by default (how they serialise work on a
    1C object may differ); a rolling update with its own settings when asked, and a Recreate target never
    inherits the defaults' rollingUpdate (Kubernetes refuses the pair)."""
    values = ci_values("minimal") | {"consumers": {
        "defaults": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}},
        "targets": [{"name": "deal", "enabled": True, "updateStrategy": {"type": "Recreate"}},
                    {"name": "product", "enabled": True}]}}
    manifests = render(values)
    assert one(manifests, "Deployment", f"{FULL}-consumer-deal").doc["spec"]["strategy"] == {"type": "Recreate"}
    assert one(manifests, "Deployment", f"{FULL}-consumer-product").doc["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0}}
    default = render(ci_values("minimal"))
    strategies = {m.name: m.doc["spec"]["strategy"] for m in of_kind(default, "Deployment") if "-consumer-" in m.name}
    assert strategies and all(s == {"type": "Recreate"} for s in strategies.values())


def test_a_target_overrides_the_consumer_defaults_key_by_key_including_false():
    values = ci_values("minimal") | {"consumers": {
        "defaults": {"autoscaling": {"enabled": True, "maxReplicas": 5}, "pdb": {"create": True}},
        "targets": [{"name": "deal", "enabled": True, "autoscaling": {"enabled": False}, "pdb": {"create": False}},
                    {"name": "product", "enabled": True, "autoscaling": {"maxReplicas": 2}}]}}
    manifests = render(values)
    hpas = {m.name: m.doc["spec"] for m in of_kind(manifests, "HorizontalPodAutoscaler")}
    assert set(hpas) == {f"{FULL}-consumer-product"}
    assert hpas[f"{FULL}-consumer-product"]["maxReplicas"] == 2
    assert "replicas" not in one(manifests, "Deployment", f"{FULL}-consumer-product").doc["spec"]
    assert one(manifests, "Deployment", f"{FULL}-consumer-deal").doc["spec"]["replicas"] == 1
    pdbs = {m.name for m in of_kind(manifests, "PodDisruptionBudget")}
    assert f"{FULL}-consumer-deal" not in pdbs and f"{FULL}-consumer-product" in pdbs


def test_relay_runs_one_replica_by_default_and_two_when_asked():
    assert one(render(ci_values("minimal")), "Deployment", f"{FULL}-relay").doc["spec"]["replicas"] == 1
    values = ci_values("minimal") | {"relay": {"replicaCount": 2}}
    assert one(render(values), "Deployment", f"{FULL}-relay").doc["spec"]["replicas"] == 2


def test_migrations_run_as_a_pre_install_pre_upgrade_hook_after_its_database_secret():
    manifests = render(ci_values("everything"))
    job = one(manifests, "Job", f"{FULL}-migrate")
    secret = one(manifests, "Secret", f"{FULL}-migrate")
    for hook in (job, secret):
        assert set(hook.annotations["helm.sh/hook"].split(",")) == {"pre-install", "pre-upgrade"}
    assert int(secret.annotations["helm.sh/hook-weight"]) < int(job.annotations["helm.sh/hook-weight"])
    assert "hook-succeeded" in secret.annotations["helm.sh/hook-delete-policy"]  # the copy goes once hooks ran
    container = pod_spec(job)["containers"][0]
    assert container["args"] == ["migrate"]
    assert secret_keys(container) == {"BRIDGE_DATABASE_URL": False}
    ref = next(e for e in container["env"] if e["name"] == "BRIDGE_DATABASE_URL")["valueFrom"]["secretKeyRef"]
    assert ref["name"] == secret.name
    assert secret.doc["stringData"] == {"BRIDGE_DATABASE_URL": "postgresql://bridge:pg-secret@postgres.db.svc:5432/bridge"}
    # hooks run before the chart's ServiceAccount exists, so the job must not depend on it
    assert "serviceAccountName" not in pod_spec(job)


def test_migration_hook_reads_an_existing_secret_directly():
    manifests = render(ci_values("minimal"))
    assert not of_kind(manifests, "Secret")
    container = pod_spec(one(manifests, "Job", f"{FULL}-migrate"))["containers"][0]
    ref = container["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "onec-b24-bridge-secrets", "key": "BRIDGE_DATABASE_URL"}


def _plain_migration_job(values):
    jobs = of_kind(render(values), "Job")
    prefix = f"{values.get('fullnameOverride') or FULL}-migrate-"[:54]
    assert len(jobs) == 1 and jobs[0].name.startswith(prefix), [j.name for j in jobs]
    return jobs[0]


def test_a_plain_migration_job_is_named_after_its_pod_template_not_the_release_revision():
    """`helm template` (what GitOps tools that apply plain manifests run) always renders revision 1: a Job
    named -migrate-<revision> kept its name across upgrades, and applying the new image to it failed
    (a Job's spec.template is immutable), so no upgrade ever migrated. The name follows the pod template
    instead (image, env, resources …): the same for a re-apply of one release, new for any change of it."""
    values = ci_values("minimal") | {"migrations": {"hook": False}}
    first = _plain_migration_job(values | {"image": {"tag": "0.1.0"}})
    assert _plain_migration_job(values | {"image": {"tag": "0.1.0"}}).name == first.name
    assert _plain_migration_job(values | {"image": {"tag": "0.2.0"}}).name != first.name
    digest = "sha256:" + "1" * 64
    assert _plain_migration_job(values | {"image": {"tag": "0.1.0", "digest": digest}}).name != first.name
    # the same image with another env value or resources: a new Job, not a refused change of the old one
    env = _plain_migration_job(values | {"image": {"tag": "0.1.0"}, "env": {"BRIDGE_LOG_LEVEL": "DEBUG"}})
    assert env.name != first.name
    resources = {"hook": False, "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}
    assert _plain_migration_job(values | {"image": {"tag": "0.1.0"}, "migrations": resources}).name != first.name
    assert len(first.name) <= 63
    long = _plain_migration_job(values | {"fullnameOverride": "x" * 63})
    assert len(long.name) <= 63 and re.fullmatch(r"x+-[0-9a-f]{8}", long.name)


def test_migrations_as_a_plain_job_have_no_hook():
    values = ci_values("everything") | {"migrations": {"hook": False}}
    manifests = render(values)
    job = _plain_migration_job(values)
    assert "helm.sh/hook" not in job.annotations
    assert not [m for m in manifests if m.kind == "Secret" and m.name.endswith("-migrate")]
    ref = pod_spec(job)["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]
    assert ref["name"] == FULL


def test_every_pod_runs_as_non_root_on_a_read_only_root_without_capabilities():
    for m in workloads(render(ci_values("everything"))):
        spec = pod_spec(m)
        assert spec["securityContext"]["runAsNonRoot"] is True, m.name
        assert spec["automountServiceAccountToken"] is False, m.name
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, m.name
            assert sc["capabilities"]["drop"] == ["ALL"], m.name
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], m.name
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], m.name


def test_each_component_gets_only_the_secrets_it_needs():
    manifests = render(ci_values("everything"))

    def keys(name: str) -> dict[str, bool]:
        return secret_keys(pod_spec(one(manifests, "Deployment", name))["containers"][0])

    assert keys(f"{FULL}-ingest") == {"BRIDGE_DATABASE_URL": False, "BRIDGE_INGEST_TOKENS": False}
    assert keys(f"{FULL}-relay") == {"BRIDGE_DATABASE_URL": False, "BRIDGE_AMQP_URL": False}
    # webhook mode: the webhook is required (a Secret without it stops the pod naming the key, instead of the
    # code's default, the local sandbox); the OAuth keys are optional
    assert keys(f"{FULL}-consumer-deal") == {
        "BRIDGE_DATABASE_URL": False, "BRIDGE_AMQP_URL": False, "BRIDGE_B24_WEBHOOK_URL": False,
        "BRIDGE_B24_OAUTH_CLIENT_SECRET": True, "BRIDGE_B24_OAUTH_REFRESH_TOKEN": True, "BRIDGE_B24_PROXY_URL": True}
    assert keys(f"{FULL}-reconcile") == {  # reads PostgreSQL and Bitrix24, never RabbitMQ
        "BRIDGE_DATABASE_URL": False, "BRIDGE_B24_WEBHOOK_URL": False, "BRIDGE_B24_OAUTH_CLIENT_SECRET": True,
        "BRIDGE_B24_OAUTH_REFRESH_TOKEN": True, "BRIDGE_B24_PROXY_URL": True}
    secret = one(manifests, "Secret", FULL).doc["stringData"]
    assert set(secret) == {"BRIDGE_DATABASE_URL", "BRIDGE_AMQP_URL", "BRIDGE_INGEST_TOKENS", "BRIDGE_B24_WEBHOOK_URL"}


def test_no_secret_value_appears_outside_the_secrets():
    values = ci_values("everything")
    secrets = [v for v in values["secrets"].values() if v]
    for m in render(values):
        if m.kind == "Secret":
            continue
        text = json.dumps(m.doc)
        for value in secrets:
            assert value not in text, f"{m.kind} {m.name} contains a secret value"


def test_secret_env_names_are_the_keys_of_the_chart_made_secret():
    manifests = render(ci_values("everything"))
    keys = set(one(manifests, "Secret", FULL).doc["stringData"])
    used = set()
    for m in of_kind(manifests, "Deployment"):
        for container in pod_spec(m)["containers"]:
            used |= {k for k, optional in secret_keys(container).items() if not optional}
    assert used <= keys


def test_env_names_the_chart_sets_are_bridge_settings():
    from bridge.settings import Settings

    fields = {f"BRIDGE_{name.upper()}" for name in Settings.model_fields}
    values = ci_values("everything")
    for m in workloads(render(values)):
        for container in pod_spec(m)["containers"]:
            unknown = [n for n in env_names(container) if n.startswith("BRIDGE_") and n not in fields]
            assert not unknown, f"{m.name} sets {unknown}, which bridge.settings.Settings does not read"
    assert not set(values["env"]) - fields


def test_mapping_file_is_mounted_where_BRIDGE_MAPPING_FILE_points_and_the_bridge_accepts_it(tmp_path):
    from bridge import mapping

    defaults = (CHART.parents[2] / "bridge" / "defaults" / "mapping.yaml").read_text(encoding="utf-8")
    values = ci_values("minimal") | {"mapping": {"content": defaults}}
    manifests = render(values)
    configmap = one(manifests, "ConfigMap", f"{FULL}-mapping")
    for m in of_kind(manifests, "Deployment"):
        spec = pod_spec(m)
        container = spec["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        if "-consumer-" not in m.name:
            assert "BRIDGE_MAPPING_FILE" not in env, m.name
            continue
        mount = next(v for v in container["volumeMounts"] if v["name"] == "mapping")
        volume = next(v for v in spec["volumes"] if v["name"] == "mapping")
        assert volume["configMap"]["name"] == configmap.name
        item = volume["configMap"]["items"][0]
        assert env["BRIDGE_MAPPING_FILE"] == f"{mount['mountPath']}/{item['path']}"
        assert "checksum/mapping" in m.doc["spec"]["template"]["metadata"]["annotations"]
    path = tmp_path / "mapping.yaml"
    path.write_text(configmap.doc["data"]["mapping.yaml"], encoding="utf-8")
    assert mapping.load(path) == mapping.load(None)


def test_an_existing_mapping_configmap_is_mounted_instead_of_a_chart_made_one():
    values = ci_values("minimal") | {"mapping": {"existingConfigMap": "portal-mapping", "key": "portal.yaml"}}
    manifests = render(values)
    assert not of_kind(manifests, "ConfigMap")
    deal = pod_spec(one(manifests, "Deployment", f"{FULL}-consumer-deal"))
    assert next(v for v in deal["volumes"] if v["name"] == "mapping")["configMap"]["name"] == "portal-mapping"
    env = {e["name"]: e.get("value") for e in deal["containers"][0]["env"]}
    assert env["BRIDGE_MAPPING_FILE"] == "/etc/onec-b24-bridge/portal.yaml"


def test_pods_roll_when_the_chart_made_secret_changes():
    def checksum(url: str) -> str:
        values = copy.deepcopy(ci_values("everything"))
        values["secrets"]["databaseUrl"] = url
        relay = one(render(values), "Deployment", f"{FULL}-relay")
        return relay.doc["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]

    assert checksum("postgresql://a@db/bridge") != checksum("postgresql://b@db/bridge")


def test_probes_ask_healthz_and_readyz_on_the_port_the_component_listens_on():
    from bridge.settings import Settings

    manifests = render(ci_values("minimal"))
    for m in of_kind(manifests, "Deployment"):
        container = pod_spec(m)["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        port = ports[container["livenessProbe"]["httpGet"]["port"]]
        assert ports[container["readinessProbe"]["httpGet"]["port"]] == port
        # the process listens where the chart tells it to, on all interfaces
        setting = {"ingest": "BRIDGE_INGEST_PORT", "relay": "BRIDGE_RELAY_METRICS_PORT"}.get(
            container["name"], "BRIDGE_CONSUMER_METRICS_PORT")
        assert int(env[setting]) == port, m.name
        assert env["BRIDGE_INGEST_HOST"] == "0.0.0.0"
    defaults = Settings()
    assert (defaults.ingest_port, defaults.relay_metrics_port, defaults.consumer_metrics_port) == (8080, 9101, 9102)


def test_every_deployment_has_a_startup_probe_on_healthz_that_allows_a_slow_start():
    manifests = render(ci_values("everything"))
    deployments = of_kind(manifests, "Deployment")
    assert len(deployments) == 6  # ingest, relay, three consumers, reconcile
    for m in deployments:
        container = pod_spec(m)["containers"][0]
        startup = container["startupProbe"]
        assert startup["httpGet"] == container["livenessProbe"]["httpGet"], m.name
        assert startup["httpGet"]["path"] == "/healthz", m.name
        # liveness begins only after this: give a start that waits for PostgreSQL/RabbitMQ 150 s
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 150, m.name
    values = ci_values("minimal") | {"probes": {"startup": {"periodSeconds": 10, "failureThreshold": 60}}}
    relay = pod_spec(one(render(values), "Deployment", f"{FULL}-relay"))["containers"][0]["startupProbe"]
    assert (relay["periodSeconds"], relay["failureThreshold"]) == (10, 60)


def test_every_component_has_a_service_port_named_metrics_that_the_service_monitor_scrapes():
    manifests = render(ci_values("everything"))
    monitor = one(manifests, "ServiceMonitor", FULL).doc["spec"]
    assert [e["port"] for e in monitor["endpoints"]] == ["metrics"]
    selector = monitor["selector"]["matchLabels"]
    services = [m for m in of_kind(manifests, "Service")
                if selector.items() <= m.doc["metadata"]["labels"].items()]
    deployments = of_kind(manifests, "Deployment")
    assert len(services) == len(deployments)
    for service in services:
        port = next(p for p in service.doc["spec"]["ports"] if p["name"] == "metrics")
        pods = [d for d in deployments
                if service.doc["spec"]["selector"].items() <= d.doc["spec"]["template"]["metadata"]["labels"].items()]
        assert len(pods) == 1, service.name
        assert port["targetPort"] in {p["name"] for p in pod_spec(pods[0])["containers"][0]["ports"]}


def test_the_ingress_publishes_only_the_event_api_of_the_ingest_service():
    manifests = render(ci_values("everything"))
    ingress = one(manifests, "Ingress", f"{FULL}-ingest").doc["spec"]
    paths = [p for rule in ingress["rules"] for p in rule["http"]["paths"]]
    assert [p["path"] for p in paths] == ["/v1/"]
    assert {p["backend"]["service"]["name"] for p in paths} == {f"{FULL}-ingest"}
    assert {p["backend"]["service"]["port"]["name"] for p in paths} == {"http"}


def test_the_commands_the_chart_runs_exist_in_the_b24bridge_cli():
    from bridge import bootstrap, topology
    from bridge.cli import main

    manifests = render(ci_values("everything"))
    for m in workloads(manifests):
        args = pod_spec(m)["containers"][0]["args"]
        command = main.get_command(click.Context(main), args[0])
        assert command is not None, f"{m.name} runs b24bridge {args[0]}, which does not exist"
        options = {opt for param in command.params for opt in param.opts}
        assert {a for a in args[1:] if a.startswith("--")} <= options, m.name
        if args[0] == "consume":
            target = args[args.index("--entity") + 1]
            assert target in topology.TARGETS and target in bootstrap.handler_factories(), m.name


def test_the_chart_prometheus_rule_is_the_plain_rules_file_with_the_chosen_changes():
    source = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    values = ci_values("everything")
    rule = one(render(values), "PrometheusRule", FULL).doc["spec"]
    rendered = {r["alert"]: r for g in rule["groups"] for r in g["rules"]}
    base = values["metrics"]["prometheusRule"]["runbookBaseUrl"]
    for group in source["groups"]:
        for expected in group["rules"]:
            got = rendered.pop(expected["alert"])
            assert got["expr"] == expected["expr"] and got.get("for") == expected.get("for")
            assert got["labels"] == expected["labels"] | {"team": "integrations"}
            assert got["annotations"] == expected["annotations"] | {
                "runbook_url": base + expected["annotations"]["runbook_url"]}
    assert list(rendered) == ["BridgeIngestUnauthorized"]  # additionalRules


def test_the_working_hours_alert_is_left_out_unless_asked_for():
    values = ci_values("minimal") | {"metrics": {"prometheusRule": {"enabled": True}}}
    spec = one(render(values), "PrometheusRule", FULL).doc["spec"]
    alerts = {r["alert"] for g in spec["groups"] for r in g["rules"]}
    assert "BridgeNoEventsIngested" not in alerts and "BridgeOutboxLag" in alerts
    assert all(r["annotations"]["runbook_url"].startswith("docs/operations.md#")
               for g in spec["groups"] for r in g["rules"])


def test_the_dashboard_configmap_carries_the_dashboard_for_the_grafana_sidecar():
    manifests = render(ci_values("everything"))
    configmap = one(manifests, "ConfigMap", f"{FULL}-dashboard").doc
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["metadata"]["annotations"]["grafana_folder"] == "Integrations"
    assert json.loads(configmap["data"]["onec-b24-bridge.json"]) == json.loads(DASHBOARD.read_text(encoding="utf-8"))


def test_notes_tell_where_1c_posts_events_and_warn_about_a_missing_mapping():
    notes = render_notes(ci_values("minimal"))
    assert f"http://{FULL}-ingest.bridge.svc:8080/v1/events" in notes
    assert "WARNING: no mapping file" in notes
    notes = render_notes(ci_values("everything"))
    assert "https://bridge.example.com/v1/events" in notes and "WARNING: no mapping" not in notes


@pytest.mark.parametrize("off", [(), ("relay",), ("relay", "ingest")])
def test_notes_run_the_dlq_tools_in_a_deployment_the_release_has(off: tuple[str, ...]):
    """`dlq list` runs in any bridge pod; the notes named the relay's even in a release without a relay."""
    values = ci_values("minimal")
    for component in off:
        values[component] = {**values.get(component, {}), "enabled": False}
    deployments = {m.name for m in of_kind(render(values), "Deployment")}
    notes = render_notes(values)
    named = re.findall(r"exec deploy/(\S+) -- b24bridge dlq list", notes)
    assert len(named) == 1 and named[0] in deployments, (named, deployments)
    assert "\n\nDead letters and unrouted events:\n" in notes


def test_a_stopping_ingest_keeps_serving_until_the_endpoints_let_it_go():
    """On SIGTERM uvicorn stops accepting at once, while the Service and the Ingress still send it requests for
    a moment: a preStop sleep keeps the pod serving through that, inside the grace period."""
    values = ci_values("minimal")
    spec = pod_spec(one(render(values), "Deployment", f"{FULL}-ingest"))
    container = spec["containers"][0]
    assert container["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert spec["terminationGracePeriodSeconds"] > 5
    values["ingest"] = {**values.get("ingest", {}), "preStopSeconds": 0}
    assert "lifecycle" not in pod_spec(one(render(values), "Deployment", f"{FULL}-ingest"))["containers"][0]
    values["ingest"] = {**values["ingest"], "preStopSeconds": 30, "terminationGracePeriodSeconds": 30}
    with pytest.raises(helm.HelmRenderError) as info:  # killed before it drains: the 502s it is there to prevent
        render(values)
    assert "ingest.preStopSeconds (30) must be shorter than ingest.terminationGracePeriodSeconds (30)" in str(info.value)


def test_chart_app_version_matches_the_package_version():
    import bridge

    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2"
    assert chart["appVersion"] == bridge.__version__


def _pg_connections(manifests) -> dict[str, int]:
    """Per Deployment: the most PostgreSQL connections its pods open (replicas, or an HPA's maxReplicas, × the
    pool of bridge/bootstrap.py that its command opens)."""
    from bridge import bootstrap

    hpas = {m.doc["spec"]["scaleTargetRef"]["name"]: m.doc["spec"]["maxReplicas"]
            for m in of_kind(manifests, "HorizontalPodAutoscaler")}
    out = {}
    for m in of_kind(manifests, "Deployment"):
        container = pod_spec(m)["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        pool = {"ingest": int(env.get("BRIDGE_INGEST_POOL_SIZE") or bootstrap.INGEST_POOL_SIZE),
                "relay": bootstrap.RELAY_POOL_SIZE + 1,  # + its LISTEN connection
                "consume": bootstrap.CONSUMER_POOL_SIZE,
                "reconcile": bootstrap.RECONCILE_POOL_SIZE}[container["args"][0]]
        out[m.name] = hpas.get(m.name, m.doc["spec"].get("replicas")) * pool
    return out


def test_the_chart_defaults_stay_within_the_bridges_postgresql_connection_budget():
    """docs/deployment.md plans 30 connections for the whole bridge (BRIDGE_CONNECTIONS_MAX: one ingest's 10,
    the relay's 5, three consumers' 15). The chart runs two ingest replicas, which at the ingest's own pool of
    10 made 40 before a single upgrade surged: each replica now takes ingest.databasePoolSize (5)."""
    from bridge import bootstrap
    from bridge.settings import Settings

    manifests = render(ci_values("minimal"))
    ingest = pod_spec(one(manifests, "Deployment", f"{FULL}-ingest"))["containers"][0]
    env = {e["name"]: e.get("value") for e in ingest["env"]}
    assert Settings(ingest_pool_size=env["BRIDGE_INGEST_POOL_SIZE"]).ingest_pool_size == 5
    connections = _pg_connections(manifests)
    assert connections[f"{FULL}-ingest"] == 10  # 2 replicas × 5
    assert sum(connections.values()) <= bootstrap.BRIDGE_CONNECTIONS_MAX, connections


@pytest.mark.parametrize("name", ["minimal", "everything"])
def test_notes_tell_how_many_postgresql_connections_the_release_opens(name: str):
    values = ci_values(name)
    total = sum(_pg_connections(render(values)).values())
    notes = render_notes(values)
    assert f"PostgreSQL: up to {total} connections" in notes
    from bridge import bootstrap

    assert ("WARNING: that is more than the 30" in notes) == (total > bootstrap.BRIDGE_CONNECTIONS_MAX)


OAUTH_ENV = {"BRIDGE_B24_OAUTH_CLIENT_ID": "app.1", "BRIDGE_B24_OAUTH_PORTAL_URL": "https://portal.bitrix24.ru/"}
BASE_SECRETS = {"databaseUrl": "postgresql://x@db/bridge", "amqpUrl": "amqp://x@mq/", "ingestTokens": "t"}


def test_oauth_mode_renders_with_its_client_id_portal_and_secrets():
    values = {"secrets": BASE_SECRETS | {"b24OauthClientSecret": "cs", "b24OauthRefreshToken": "rt"}, "env": OAUTH_ENV}
    manifests = render(values)
    assert set(one(manifests, "Secret", FULL).doc["stringData"]) >= {
        "BRIDGE_B24_OAUTH_CLIENT_SECRET", "BRIDGE_B24_OAUTH_REFRESH_TOKEN"}
    container = pod_spec(one(manifests, "Deployment", f"{FULL}-consumer-deal"))["containers"][0]
    env = env_names(container)
    assert {"BRIDGE_B24_OAUTH_CLIENT_ID", "BRIDGE_B24_OAUTH_PORTAL_URL", "BRIDGE_B24_OAUTH_CLIENT_SECRET"} <= set(env)
    assert secret_keys(container)["BRIDGE_B24_WEBHOOK_URL"] is True  # not read in OAuth mode: may be absent


def test_oauth_mode_given_in_the_consumers_extra_env_leaves_the_webhook_key_optional():
    """OAuth set up through consumers.defaults.extraEnv (and the reconcile's) rendered and ran before the
    webhook key became required in webhook mode: it still does, with an existing Secret."""
    oauth = [{"name": "BRIDGE_B24_OAUTH_CLIENT_ID", "value": "app.1"},
             {"name": "BRIDGE_B24_OAUTH_PORTAL_URL", "value": "https://portal.example/"}]
    values = {"secrets": {"existingSecret": "mine"}, "consumers": {"defaults": {"extraEnv": oauth}},
              "reconcile": {"enabled": True, "extraEnv": oauth}}
    manifests = render(values)
    for name in (f"{FULL}-consumer-deal", f"{FULL}-reconcile"):
        assert secret_keys(pod_spec(one(manifests, "Deployment", name))["containers"][0])["BRIDGE_B24_WEBHOOK_URL"] is True
    webhook = render({"secrets": {"existingSecret": "mine"}})
    assert secret_keys(pod_spec(one(webhook, "Deployment", f"{FULL}-consumer-deal"))["containers"][0])[
        "BRIDGE_B24_WEBHOOK_URL"] is False


@pytest.mark.parametrize(("secrets", "env", "named"), [
    # OAuth secrets without the client id: the bridge would ignore them and call the default (sandbox) webhook
    ({"b24OauthRefreshToken": "rt"}, {}, "env.BRIDGE_B24_OAUTH_CLIENT_ID"),
    ({"b24OauthClientSecret": "cs", "b24OauthRefreshToken": "rt"}, {}, "env.BRIDGE_B24_OAUTH_CLIENT_ID"),
    # OAuth mode the bridge refuses at start: no client secret, or no portal
    ({"b24OauthRefreshToken": "rt"}, OAUTH_ENV, "secrets.b24OauthClientSecret"),
    ({"b24OauthClientSecret": "cs"}, {"BRIDGE_B24_OAUTH_CLIENT_ID": "app.1"}, "env.BRIDGE_B24_OAUTH_PORTAL_URL"),
    ({"existingSecret": "mine"}, {"BRIDGE_B24_OAUTH_CLIENT_ID": "app.1"}, "env.BRIDGE_B24_OAUTH_PORTAL_URL"),
])
def test_an_incomplete_oauth_setup_refuses_to_render_and_names_what_to_set(secrets, env, named):
    given = secrets if "existingSecret" in secrets else BASE_SECRETS | secrets
    with pytest.raises(helm.HelmRenderError) as info:
        render({"secrets": given, "env": env})
    assert named in str(info.value)


def test_the_reconcile_alone_needs_bitrix24_credentials_too():
    values = {"secrets": {"databaseUrl": "postgresql://x@db/bridge"}, "ingest": {"enabled": False},
              "relay": {"enabled": False}, "consumers": {"targets": []}, "reconcile": {"enabled": True}}
    with pytest.raises(helm.HelmRenderError, match="secrets.b24WebhookUrl"):
        render(values)
    values["secrets"]["b24WebhookUrl"] = "https://portal.bitrix24.ru/rest/1/code/"
    assert one(render(values), "Deployment", f"{FULL}-reconcile")
