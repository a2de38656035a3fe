"""Extended testing agent 5, Deployment Preparation: validate the configuration files (JSON, TOML,
INI, and YAML with PyYAML when the interpreter has it), and look for deployment artifacts, a
documented rollback procedure and monitoring configuration.
"""

from __future__ import annotations

import configparser
import json
import re
import time
import tomllib
from typing import Any

import agentlib
import repo_scan
from repo_scan import Repo, is_test_file, risk

MAX_CONFIGS = 500
ARTIFACTS = ("Dockerfile", "Dockerfile.*", "docker-compose*.y*ml", "compose.y*ml", "Chart.yaml",
             "Procfile", "fly.toml", "app.yaml", "serverless.y*ml", "*.tf", "k8s/*", "deploy/*",
             "kubernetes/*", "helm/*")  # fmt: skip
MONITORING_FILES = ("prometheus*.y*ml", "alertmanager*.y*ml", "*alerts*.y*ml", "grafana/*",
                    "*dashboard*.json", "datadog*.y*ml", "newrelic.ini", "otel*.y*ml",
                    "logging.conf", "logging.y*ml", "sentry*.properties")  # fmt: skip
_MONITORING_TEXT = re.compile(
    r"sentry_sdk\.init\(|import\s+(?:prometheus_client|opentelemetry|statsd|datadog)|"
    r"from\s+(?:prometheus_client|opentelemetry)\S*\s+import|^HEALTHCHECK\s|livenessProbe\s*:|"
    r"readinessProbe\s*:|logging\.config\.dictConfig\(",
    re.M,
)
_ROLLBACK_TEXT = re.compile(r"(?i)\broll(?:ing)?[ -]?back\b|^rollback\s*:")
ROLLBACK_FILES = ("*rollback*.md", "*rollback*.sh", "*rollback*.txt", "*rollback*.rst", "RUNBOOK*",
                  "runbook*")  # fmt: skip


def yaml_loader() -> Any:
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        return None
    return yaml


def validate(repo: Repo, rel: str, yaml: Any) -> str | None:
    """The parse error of a configuration file, or None when it parses."""
    text = repo.text(rel)
    if text is None:
        return None
    suffix = rel.rsplit(".", 1)[-1].lower()
    try:
        if suffix == "json":
            json.loads(text)
        elif suffix == "toml":
            tomllib.loads(text)
        elif suffix in ("ini", "cfg"):
            configparser.ConfigParser(interpolation=None).read_string(text, source=rel)
        elif yaml is not None:
            list(yaml.safe_load_all(text))
        elif re.search(r"^\t+", text, re.M):
            return "tab used for indentation"
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
    return None


def evidence(repo: Repo, names: tuple[str, ...], text: re.Pattern[str], docs: bool) -> list[str]:
    """Files named like ``names``, and files whose text matches (docs only, or code and config)."""
    found = repo.matching(*names)
    if docs:
        scan = [f for f in repo.files if f.lower().endswith((".md", ".rst", ".txt"))]
        scan += repo.matching("Makefile")
    else:
        scan = repo.source_files() + repo.matching("Dockerfile*", "*.y*ml", "Makefile")
    found += [f for f in scan if not is_test_file(f) and text.search(repo.text(f) or "")]
    return sorted(set(found))[:20]


def main() -> None:
    root, _ = repo_scan.start("deployment preparation")
    started = time.monotonic()
    repo = Repo(root)
    yaml = yaml_loader()
    configs = [
        f
        for f in repo.matching("*.json", "*.toml", "*.ini", "*.cfg", "*.yaml", "*.yml")
        if not is_test_file(f)
    ][:MAX_CONFIGS]
    how = "PyYAML" if yaml else "indentation check only"
    agentlib.progress(f"validating {len(configs)} configuration files (YAML: {how})")
    invalid = [{"path": f, "error": e} for f in configs if (e := validate(repo, f, yaml))]
    artifacts = repo.matching(*ARTIFACTS)[:30]
    rollback = evidence(repo, ROLLBACK_FILES, _ROLLBACK_TEXT, docs=True)
    monitoring = evidence(repo, MONITORING_FILES, _MONITORING_TEXT, docs=False)
    agentlib.progress(
        f"{len(invalid)} invalid, {len(artifacts)} deployment artifacts, rollback evidence "
        f"{len(rollback)}, monitoring evidence {len(monitoring)}"
    )
    risks = []
    if invalid:
        where = ", ".join(f"{i['path']} ({i['error']})" for i in invalid[:5])
        title = f"{len(invalid)} invalid config file(s)"
        risks.append(risk("deploy.invalid_config", "high", title, where))
    if not rollback:
        title = "No documented rollback procedure"
        risks.append(risk("deploy.no_rollback_procedure", "medium", title))
    if not monitoring:
        title = "No monitoring or health-check configuration"
        risks.append(risk("deploy.no_monitoring", "low", title))
    agentlib.result(
        {
            "summary": (
                f"{len(configs) - len(invalid)}/{len(configs)} config files valid; rollback "
                f"procedure {'found' if rollback else 'missing'}; monitoring "
                f"{'found' if monitoring else 'missing'}"
            ),
            "findings": {
                "deployment": {
                    "configs": {
                        "checked": len(configs),
                        "invalid": invalid[:50],
                        "yaml_parser": "PyYAML" if yaml else None,
                    },
                    "artifacts": artifacts,
                    "rollback": {"present": bool(rollback), "evidence": rollback},
                    "monitoring": {"present": bool(monitoring), "evidence": monitoring},
                }
            },
            "risks": risks,
            "dependencies": [],
            "metrics": {"duration_ms": repo_scan.elapsed_ms(started)},
        }
    )


if __name__ == "__main__":
    main()
