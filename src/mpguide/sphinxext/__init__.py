"""Sphinx extensions used to build the mpguide documentation."""
