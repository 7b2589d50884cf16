"""The chart's NetworkPolicies: open only while no peer list is set at all; once one is, every port admits
only the peers listed for it (issue 13: only `ingestFrom` set used to render an open ingest rule)."""

from __future__ import annotations

import pytest

from tests.deploy.support import KUBE_VERSION, RELEASE, ci_values, of_kind, one, render, render_notes

pytest.importorskip("helm_python")
kubernetes_validate = pytest.importorskip("kubernetes_validate")

FULL = f"{RELEASE}-onec-b24-bridge"
OFFICE = [{"ipBlock": {"cidr": "10.20.0.0/16"}}]
MONITORING = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
TEST_POD = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "onec-b24-bridge",
                                            "app.kubernetes.io/instance": RELEASE,
                                            "app.kubernetes.io/component": "test"}}}
OPS = (f"{FULL}-relay", f"{FULL}-consumer-counterparty", f"{FULL}-consumer-product", f"{FULL}-consumer-deal")


def policies(ingest_from: list, metrics_from: list, **extra) -> dict[str, list]:
    """name → spec.ingress of every NetworkPolicy rendered for these peer lists (each one validated)."""
    values = ci_values("minimal") | {"networkPolicy": {"enabled": True, "ingestFrom": ingest_from,
                                                       "metricsFrom": metrics_from}} | extra
    out = {}
    for m in of_kind(render(values), "NetworkPolicy"):
        kubernetes_validate.validate(m.doc, KUBE_VERSION, strict=True)
        assert m.doc["spec"]["policyTypes"] == ["Ingress"], m.name
        out[m.name] = m.doc["spec"]["ingress"]
    assert set(out) == {f"{FULL}-ingest", *OPS}
    return out


def open_rules(ingress: list) -> list:
    """Rules that admit every source: no `from`, or an empty one."""
    return [rule for rule in ingress if not rule.get("from")]


@pytest.mark.parametrize(("ingest_from", "metrics_from"), [(OFFICE, []), ([], MONITORING), (OFFICE, MONITORING)],
                         ids=["only-ingestFrom", "only-metricsFrom", "both"])
def test_no_policy_has_an_open_rule_once_any_peer_list_is_set(ingest_from, metrics_from):
    for name, ingress in policies(ingest_from, metrics_from).items():
        assert open_rules(ingress) == [], f"{name} admits everyone: {ingress}"


def test_only_ingest_from_admits_the_1c_sender_and_the_test_pod_to_the_ingest_and_no_one_to_the_ops_ports():
    found = policies(OFFICE, [])
    assert found[f"{FULL}-ingest"] == [{"ports": [{"port": "http", "protocol": "TCP"}], "from": OFFICE + [TEST_POD]}]
    for name in OPS:
        assert found[name] == [], name  # no rule: nothing but the node's kubelet probes reaches the port
    assert "networkPolicy.metricsFrom is empty" in render_notes(
        ci_values("minimal") | {"networkPolicy": {"enabled": True, "ingestFrom": OFFICE}})


def test_only_metrics_from_closes_the_ingest_to_everyone_else_and_says_so():
    found = policies([], MONITORING)
    assert found[f"{FULL}-ingest"] == [{"ports": [{"port": "http", "protocol": "TCP"}],
                                        "from": MONITORING + [TEST_POD]}]
    for name in OPS:
        assert found[name] == [{"ports": [{"port": "metrics", "protocol": "TCP"}], "from": MONITORING}], name
    assert "networkPolicy.ingestFrom is empty" in render_notes(
        ci_values("minimal") | {"networkPolicy": {"enabled": True, "metricsFrom": MONITORING}})


def test_both_lists_share_the_ingest_port_and_only_the_scrapers_reach_the_ops_ports():
    found = policies(OFFICE, MONITORING)
    assert found[f"{FULL}-ingest"][0]["from"] == OFFICE + MONITORING + [TEST_POD]
    for name in OPS:
        assert found[name][0]["from"] == MONITORING, name
    assert "WARNING: networkPolicy" not in render_notes(ci_values("everything"))


def test_without_the_helm_test_pod_no_peer_is_added_for_it():
    found = policies(OFFICE, MONITORING, helmTest={"enabled": False})
    assert found[f"{FULL}-ingest"][0]["from"] == OFFICE + MONITORING


def test_no_peer_list_at_all_leaves_the_served_ports_open_and_closes_the_rest():
    found = policies([], [])
    assert found[f"{FULL}-ingest"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    for name in OPS:
        assert found[name] == [{"ports": [{"port": "metrics", "protocol": "TCP"}]}], name


def test_the_peer_for_the_test_pod_selects_exactly_the_helm_test_pod():
    pod = one(render(ci_values("minimal")), "Pod", f"{FULL}-test-ingest")
    labels = pod.doc["metadata"]["labels"]
    assert TEST_POD["podSelector"]["matchLabels"].items() <= labels.items()
    deployments = of_kind(render(ci_values("minimal")), "Deployment")
    for d in deployments:  # and no component of the bridge itself
        pod_labels = d.doc["spec"]["template"]["metadata"]["labels"]
        assert not TEST_POD["podSelector"]["matchLabels"].items() <= pod_labels.items(), d.name
