#!/usr/bin/env python3
"""What can be checked of the Dockerfile without a Docker engine: its runtime stage
installs a Debian package for every shared library the built binaries load (found with
ldd and dpkg on this Debian 12 machine, like the image's base), every package it names
exists in Debian, and it runs as a user other than root."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("ISMSCODE_BIN_DIR") or os.path.join(ROOT, "build")
BINARIES = ["server/ismscode-gateway", "mock/ismscode-mock", "client/cpp/ismsctl"]
IN_BASE_IMAGE = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}  # debian:12-slim has them

text = open(os.path.join(ROOT, "Dockerfile"), encoding="utf-8").read()
stages = re.split(r"^FROM ", text, flags=re.M)
runtime = stages[-1]
installed = set()
for command in re.findall(r"apt-get install ((?:[^\n]*\\\n)*[^\n]*)", runtime):
    command = command.replace("\\\n", " ").split("&&")[0]  # up to the next command
    installed |= {w for w in command.split() if not w.startswith("-")}
installed = {p for p in installed if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", p)}
failures = []

def owners(paths):
    """{path: package} for the paths dpkg knows (one dpkg call: each takes a while)."""
    out = subprocess.run(["dpkg", "-S", *paths], capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        package, _, path = line.partition(": ")
        found[path] = package.split(", ")[0].split(":")[0]
    return found


bin_dir = os.path.abspath(BIN_DIR)
libs = set()
for binary in BINARIES:
    out = subprocess.run(["ldd", os.path.join(bin_dir, binary)], capture_output=True, text=True,
                         check=True).stdout
    # The project's own library is copied from the build stage.
    libs |= {lib for lib in re.findall(r"=> (/\S+)", out) if not lib.startswith(bin_dir)}
# Under usrmerge dpkg knows most under /usr/lib/..., where ldd says /lib/...; the
# essential packages' stay under /lib.
forms = {lib: [lib, lib if lib.startswith("/usr/") else "/usr" + lib] for lib in libs}
known = owners(sorted({f for both in forms.values() for f in both}))
needed = {}
for lib in sorted(libs):
    owner = next((known[f] for f in forms[lib] if f in known), None)
    if owner is None:
        failures.append(f"no Debian package ships {lib}")
    else:
        needed.setdefault(owner, set()).add(os.path.basename(lib))
for package, names in sorted(needed.items()):
    if package not in installed and package not in IN_BASE_IMAGE:
        failures.append(f"the runtime stage lacks {package} (for {', '.join(sorted(names))})")
for package in sorted(installed):
    if subprocess.run(["apt-cache", "show", package], capture_output=True).returncode != 0:
        failures.append(f"{package} is not a Debian package")
user = re.findall(r"^USER (\S+)", runtime, re.M)
if not user or user[-1] in ("root", "0"):
    failures.append("the runtime stage runs as root")
for f in failures:
    print(f)
print(f"runtime stage: {len(installed)} packages, the binaries need {len(needed)}: "
      f"{len(failures)} problem(s)")
sys.exit(1 if failures else 0)
