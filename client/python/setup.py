"""Generates the gRPC stubs from proto/ while building (they are never committed)."""
import os
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # build_meta does not
import generate_stubs  # noqa: E402


class BuildWithStubs(build_py):
    def run(self):
        generate_stubs.generate()
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})
