#!/usr/bin/env python3
"""The README's C++ signup test is the file CI runs: the first ```cpp block after
"## A signup test in C++" must equal client/cpp/examples/signup_test.cc."""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
section = readme[readme.index("## A signup test in C++"):]
start = section.index("```cpp\n") + len("```cpp\n")
block = section[start:section.index("```\n", start)]
example = open(os.path.join(ROOT, "client/cpp/examples/signup_test.cc"), encoding="utf-8").read()
if block != example:
    sys.exit("README.md's signup test differs from client/cpp/examples/signup_test.cc; "
             "copy the file into the README")
print("README's signup test is client/cpp/examples/signup_test.cc")
