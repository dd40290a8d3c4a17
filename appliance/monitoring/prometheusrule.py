"""The alert and recording rules as a Kubernetes PrometheusRule (prometheus-operator, as in
Harvester's rancher-monitoring), generated from appliance/monitoring/rules/*.rules.yml so that the
two never differ:

    python -m appliance.monitoring.prometheusrule --write   # regenerate image/kubernetes/base/prometheusrule.yaml
    python -m appliance.monitoring.prometheusrule --check   # exit 1 if the manifest is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from ..catalog import REPO_ROOT

RULES_DIR = Path(__file__).resolve().parent / "rules"
MANIFEST = REPO_ROOT / "image" / "kubernetes" / "base" / "prometheusrule.yaml"
NAME = "time-appliance"
NAMESPACE = "cattle-monitoring-system"  # rancher-monitoring's namespace in Harvester

HEADER = """\
# GENERATED from appliance/monitoring/rules/*.rules.yml by
#   python -m appliance.monitoring.prometheusrule --write
# Do not edit by hand: tests/unit/test_prometheus_rules.py fails when the two differ.
#
# rancher-monitoring's Prometheus selects every PrometheusRule (ruleSelectorNilUsesHelmValues:
# false); the `release` label also matches a stock kube-prometheus-stack installed as
# "rancher-monitoring". Part of the kustomize base (kubectl apply -k image/kubernetes);
# alone: kubectl apply -f prometheusrule.yaml
"""


def rule_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.rules.yml"))


def rule_groups() -> list[dict]:
    groups: list[dict] = []
    for path in rule_files():
        data = yaml.safe_load(path.read_text())
        groups.extend(data["groups"])
    return groups


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def manifest() -> dict:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": NAME,
                "app.kubernetes.io/part-of": "time-appliance",
                "release": "rancher-monitoring",
            },
        },
        "spec": {"groups": rule_groups()},
    }


def render() -> str:
    return HEADER + yaml.dump(manifest(), Dumper=_Dumper, sort_keys=False, width=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m appliance.monitoring.prometheusrule", description=__doc__.split("\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help=f"write {MANIFEST.relative_to(REPO_ROOT)}")
    mode.add_argument("--check", action="store_true", help="exit 1 if the manifest differs from the rule files")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        MANIFEST.parent.mkdir(parents=True, exist_ok=True)
        MANIFEST.write_text(text)
        print(f"wrote {MANIFEST}")
        return 0
    if args.check:
        current = MANIFEST.read_text() if MANIFEST.exists() else ""
        if current != text:
            print(f"{MANIFEST} is out of date: python -m appliance.monitoring.prometheusrule --write", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
