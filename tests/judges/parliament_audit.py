#!/usr/bin/env python3
"""Audits IAM policy documents with parliament (PyPI, pinned in
scripts/python-requirements.txt), its community auditors included: the
privilege-escalation paths of Bishop Fox's list, permissions-management
actions, and its own checks of actions, resources and conditions against
its copy of AWS's reference.

Usage: parliament_audit.py NAME.json...; prints one JSON finding per
line, {"document": NAME, "issue", "severity", "type", "actions"} (`type`
names an escalation path), and exits 0 (the caller judges), 2 when
parliament cannot be imported.
https://github.com/duo-labs/parliament
"""

import json
import os
import sys
import warnings


def main(arguments):
    warnings.simplefilter("ignore")
    try:
        import parliament
    except ImportError as error:
        print(f"parliament is not installed: {error}", file=sys.stderr)
        return 2
    # The community auditors' findings are known only with their config.
    parliament.override_config(
        os.path.join(
            os.path.dirname(parliament.__file__),
            "community_auditors",
            "config_override.yaml",
        )
    )
    for path in arguments:
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as file:
            text = file.read()
        policy = parliament.analyze_policy_string(text, include_community_auditors=True)
        for finding in policy.findings:
            parliament.enhance_finding(finding)
            location = finding.location if isinstance(finding.location, dict) else {}
            print(
                json.dumps(
                    {
                        "document": name,
                        "issue": finding.issue,
                        "severity": finding.severity,
                        "type": location.get("type"),
                        "actions": sorted(location.get("actions") or []),
                    },
                    sort_keys=True,
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
