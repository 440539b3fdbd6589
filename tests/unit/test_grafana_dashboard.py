"""deploy/grafana: the provisioning files load the committed dashboards, and every panel of a
dashboard reads the provisioned datasource with plain PromQL (tests/ops/test_ops_prometheus.py
runs each query against a real Prometheus)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "deploy/grafana"


def test_the_provisioning_names_one_prometheus_datasource_and_the_dashboards_folder() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yml").read_text())
    (source,) = sources["datasources"]
    assert source["type"] == "prometheus" and source["uid"] == "tts-prometheus"
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/tts.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_every_panel_reads_the_provisioned_datasource_with_plain_promql() -> None:
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    assert dashboards
    for path in dashboards:
        board = json.loads(path.read_text())
        assert board["uid"] and board["title"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in board["panels"]:
            where = f"{path.name}: {panel['title']}"
            assert panel["datasource"]["uid"] == "tts-prometheus", where
            assert panel["targets"], where
            for target in panel["targets"]:
                # Grafana-only variables ($__rate_interval, $service) would not run in Prometheus.
                assert "$" not in target["expr"], where
                assert target["datasource"]["uid"] == "tts-prometheus", where
