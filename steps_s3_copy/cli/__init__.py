"""The ``s3copy`` command line (console script ``s3copy = steps_s3_copy.cli:main``)."""

from steps_s3_copy.cli.app import app, main

__all__ = ["app", "main"]
