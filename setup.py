"""setuptools hook for the cffi extension; all metadata is in pyproject.toml."""

from setuptools import setup

setup(cffi_modules=["build_ext.py:ffibuilder"])
