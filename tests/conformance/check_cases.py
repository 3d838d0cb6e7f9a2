#!/usr/bin/env python3
"""Checks that every tests/conformance/cases/*.json follows case.schema.json, that its
name is its file name, and that every error reason it expects is one the README's error
table (or the clients' own: GATEWAY_UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED) knows."""
import glob
import json
import os
import re
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
README = os.path.join(HERE, "..", "..", "README.md")
CLIENT_REASONS = {"GATEWAY_UNAVAILABLE", "CANCELLED", "DEADLINE_EXCEEDED"}
# Rows of the error table no case can show against the shared gateways, and where they
# are tested instead.
NOT_COVERED = {}


def table_reasons():
    text = open(README, encoding="utf-8").read()
    table = text[text.index("### Errors, for callers"):]
    table = table[:table.index("\n\n", table.index("| cause"))]
    rows = [line for line in table.splitlines() if line.startswith("| ")][1:]  # no header
    return {r for line in rows for r in re.findall(r"`([A-Z_]{6,})`", line.split("|")[3])}


def expected_reasons(case):
    for step in case["steps"]:
        err = step.get("expect", {}).get("error") if "mock" not in step else None
        if err:
            yield err["reason"]


def main():
    cases_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "cases")
    schema = json.load(open(os.path.join(HERE, "case.schema.json"), encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    known = table_reasons() | CLIENT_REASONS
    files = sorted(glob.glob(os.path.join(cases_dir, "*.json")))
    covered = set()
    failures = []
    for path in files:
        name = os.path.basename(path)
        try:
            case = json.load(open(path, encoding="utf-8"))
        except ValueError as e:
            failures.append(f"{name}: not JSON: {e}")
            continue
        for error in validator.iter_errors(case):
            where = "/".join(str(p) for p in error.absolute_path) or "(top)"
            failures.append(f"{name}: {where}: {error.message}")
        if case.get("name") != name[:-len(".json")]:
            failures.append(f"{name}: name {case.get('name')!r} is not the file's name")
        for reason in expected_reasons(case) if isinstance(case.get("steps"), list) else []:
            covered.add(reason)
            if reason not in known:
                failures.append(f"{name}: reason {reason} is in no error table")
    for reason in sorted(table_reasons() - covered - set(NOT_COVERED)):
        failures.append(f"error table reason {reason}: no case expects it")
    if not files:
        failures.append("no case files found")
    for f in failures:
        print(f, file=sys.stderr)
    print(f"check_cases: {len(files)} case files, {len(failures)} problems")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
