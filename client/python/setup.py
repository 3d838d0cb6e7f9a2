"""Generates the gRPC stubs from proto/ while building (they are never committed)."""
from setuptools import setup
from setuptools.command.build_py import build_py

import generate_stubs


class BuildWithStubs(build_py):
    def run(self):
        generate_stubs.generate()
        super().run()


setup(cmdclass={"build_py": BuildWithStubs})
