"""Testing agent 2, Performance and Security: secret-looking strings, world-writable files, large
binaries, dependency pins, and import times against the analysis phase's baseline.

Secrets are never printed: a finding shows the file, the line, the kind and the first characters.
A degradation is an import that takes more than 50% and 0.1 s more CPU time than the baseline.
"""

from __future__ import annotations

import re
import stat
import time
from typing import Any

import agentlib
import manifests
import project_exec
import repo_scan
from repo_scan import Repo, is_test_file, risk
from synthesis_view import agent_result

SECRET_PATTERNS: list[tuple[str, str, re.Pattern[str]]] = [
    ("private_key", "critical",
     re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY-----")),
    ("aws_access_key", "critical", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("github_token", "critical", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b")),
    ("stripe_live_key", "critical", re.compile(r"\b[sr]k_live_[0-9A-Za-z]{16,}\b")),
    ("slack_token", "high", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("google_api_key", "high", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("assigned_secret", "high", re.compile(
        r"\b(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token|"
        r"private[_-]?key|client[_-]?secret)\b['\"]?\s*[:=]\s*['\"]([^'\"\s]{8,})['\"]", re.I)),
]  # fmt: skip
_ANY_SECRET = re.compile(
    "|".join(f"(?{'i' if p.flags & re.I else ''}:{p.pattern})" for _, _, p in SECRET_PATTERNS)
)
"""All the patterns at once: most files match none, and are then read no further."""
PLACEHOLDERS = ("example", "changeme", "change_me", "xxx", "<", "${", "{{", "your", "dummy",
                "fake", "placeholder", "***", "redacted", "sample", "test", "secret")  # fmt: skip
LARGE_BINARY = 1 << 20
LOCK_FILES = ("poetry.lock", "uv.lock", "Pipfile.lock", "pdm.lock", "package-lock.json",
              "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "go.sum")  # fmt: skip


def secrets(repo: Repo) -> list[dict[str, Any]]:
    found = []
    for rel in repo.files:
        text = repo.text(rel)
        if not text or not _ANY_SECRET.search(text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            for kind, severity, pattern in SECRET_PATTERNS:
                match = pattern.search(line)
                if not match:
                    continue
                value = match.group(match.lastindex or 0)
                if any(p in value.lower() for p in PLACEHOLDERS):
                    continue
                level = "medium" if is_test_file(rel) and severity != "critical" else severity
                found.append(
                    {
                        "path": rel,
                        "line": number,
                        "kind": kind,
                        "severity": level,
                        "preview": value[:4] + "…",
                    }
                )
    return found


def world_writable(repo: Repo) -> list[str]:
    paths = []
    for rel in repo.files:
        try:
            mode = repo.path(rel).lstat().st_mode
        except OSError:
            continue
        if stat.S_ISREG(mode) and mode & stat.S_IWOTH:
            paths.append(rel)
    return paths


def large_binaries(repo: Repo) -> list[dict[str, Any]]:
    found = []
    for rel in repo.files:
        try:
            size = repo.path(rel).stat().st_size
        except OSError:
            continue
        if size >= LARGE_BINARY and repo_scan.is_binary(repo.path(rel)):
            found.append({"path": rel, "mb": round(size / 2**20, 1)})
    return sorted(found, key=lambda b: -b["mb"])


def pins(repo: Repo) -> dict[str, Any]:
    """Dependencies without any version constraint, and whether a lock file pins them instead."""
    unpinned = []
    loose = 0
    for ecosystem, items in manifests.declared_dependencies(repo).items():
        for dep in items:
            spec = dep["spec"].strip()
            if not spec or spec in ("*", "latest", "x"):
                unpinned.append(f"{ecosystem}:{dep['name']}" + (" (dev)" if dep["dev"] else ""))
            elif spec.startswith(">") and "," not in spec:
                loose += 1
    locks = [name for name in LOCK_FILES if repo.exists(name)]
    return {"unpinned": unpinned, "lower_bound_only": loose, "lock_files": locks}


def performance(repo: Repo, inputs: dict[str, Any]) -> dict[str, Any]:
    infra = agent_result(inputs, "infrastructure").get("findings") or {}
    baseline = (infra.get("performance") or {}).get("import_s") or {}
    packages = list(baseline) or repo_scan.top_packages(repo)[:3]
    now = project_exec.import_times(repo, packages) if packages else {}
    degraded = [
        {"package": name, "baseline_s": baseline[name], "now_s": seconds}
        for name, seconds in now.items()
        if name in baseline and seconds > 1.5 * baseline[name] and seconds - baseline[name] > 0.1
    ]
    return {
        "import_s": now,
        "baseline_s": baseline,
        "degraded": degraded,
        "degradations": len(degraded),
        "has_baseline": bool(baseline),
    }


def security_risks(found: dict[str, Any]) -> list[dict[str, str]]:
    risks = []
    for severity in ("critical", "high", "medium"):
        hits = [s for s in found["secrets"] if s["severity"] == severity]
        if hits:
            where = ", ".join(f"{s['path']}:{s['line']} ({s['kind']})" for s in hits[:5])
            risks.append(
                risk(
                    f"security.secrets_{severity}",
                    severity,
                    f"{len(hits)} secret-looking string(s)",
                    where,
                )
            )
    if found["world_writable"]:
        risks.append(
            risk(
                "security.world_writable",
                "high",
                f"{len(found['world_writable'])} world-writable file(s)",
                ", ".join(found["world_writable"][:5]),
            )
        )
    if found["large_binaries"]:
        risks.append(
            risk(
                "security.large_binaries",
                "low",
                f"{len(found['large_binaries'])} binary file(s) over 1 MB",
            )
        )
    deps = found["dependencies"]
    if deps["unpinned"]:
        # development tools without a version only change what a developer installs
        runtime = [d for d in deps["unpinned"] if not d.endswith(" (dev)")]
        severity = "medium" if runtime and not deps["lock_files"] else "low"
        risks.append(
            risk(
                "security.unpinned_dependencies",
                severity,
                f"{len(deps['unpinned'])} dependency(ies) without a version",
                ", ".join(deps["unpinned"][:10]),
            )
        )
    for item in found["performance"]["degraded"]:
        title = f"Import of {item['package']} slowed from {item['baseline_s']}s to {item['now_s']}s"
        risks.append(risk(f"performance.import_{item['package']}", "medium", title))
    return risks


def main() -> None:
    root, _ = repo_scan.start("performance and security")
    started = time.monotonic()
    repo = Repo(root)
    agentlib.progress(f"scanning {len(repo.files)} files for secrets")
    found: dict[str, Any] = {"secrets": secrets(repo)}
    found["world_writable"] = world_writable(repo)
    found["large_binaries"] = large_binaries(repo)
    found["dependencies"] = pins(repo)
    agentlib.progress(
        f"{len(found['secrets'])} secret-looking strings, {len(found['world_writable'])} "
        f"world-writable files, {len(found['large_binaries'])} large binaries"
    )
    found["performance"] = performance(repo, agentlib.load_inputs())
    agentlib.progress(f"import times: {found['performance']['import_s']}")
    risks = security_risks(found)
    high = [r for r in risks if r["severity"] in ("critical", "high")]
    findings = {
        "security": {
            "secrets": found["secrets"][:50],
            "world_writable": found["world_writable"][:50],
            "large_binaries": found["large_binaries"][:20],
            "dependencies": found["dependencies"],
            "high_risk": len(high),
        },
        "performance": found["performance"],
    }
    agentlib.result(
        {
            "summary": (
                f"{len(high)} high-risk security finding(s); {len(found['secrets'])} "
                f"secret-looking strings; {found['performance']['degradations']} performance "
                "degradation(s)"
            ),
            "findings": findings,
            "risks": risks,
            "dependencies": [],
            "metrics": {"files": len(repo.files), "duration_ms": repo_scan.elapsed_ms(started)},
        }
    )


if __name__ == "__main__":
    main()
