"""Exceptions shared by the CLI and the libraries."""

from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user (file, line, field named in the message).  The CLI exits with 2."""


class DataError(UsageError):
    """A data file is missing or malformed."""
