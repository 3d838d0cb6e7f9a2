"""Generates the gRPC stubs from proto/ before setuptools looks for the packages (they
are never committed; ismscode_harness._gen is one of the packages, so it must exist
before the metadata is prepared, not only by build_py). From an sdist, which carries
the stubs and no proto/, nothing is generated."""
import os
import sys

from setuptools import setup

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)  # build_meta does not
import generate_stubs  # noqa: E402

if os.path.isdir(generate_stubs.PROTO):
    generate_stubs.generate()

setup()
