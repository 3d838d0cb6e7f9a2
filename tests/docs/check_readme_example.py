#!/usr/bin/env python3
"""The README's signup tests are the files CI runs: the first code block after each
heading below must equal its file."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = [
    ("## A signup test in C++", "cpp", "client/cpp/examples/signup_test.cc"),
    ("## A signup test in Python", "python", "client/python/examples/test_signup.py"),
    ("## A signup test in TypeScript (Playwright)", "ts",
     "client/node/examples/playwright/signup.spec.ts"),
    ("## A signup test in Go", "go", "client/go/examples/signup/signup_test.go"),
]

readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
failures = 0
for heading, lang, path in EXAMPLES:
    section = readme[readme.index(heading):]
    start = section.index(f"```{lang}\n") + len(f"```{lang}\n")
    block = section[start:section.index("```\n", start)]
    if block != open(os.path.join(ROOT, path), encoding="utf-8").read():
        print(f"README.md's block under '{heading}' differs from {path}; copy the file in")
        failures += 1
    else:
        print(f"README's {lang} signup test is {path}")
sys.exit(1 if failures else 0)
