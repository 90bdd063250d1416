"""Errors the command line turns into exit codes: 1 invalid input, 2 usage, 3 unreachable service."""

from __future__ import annotations

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class CliError(Exception):
    """An error with a message for the user and the exit code it maps to."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CliError):
    exit_code = EXIT_INVALID


class ServiceUnreachable(CliError):
    exit_code = EXIT_UNREACHABLE
