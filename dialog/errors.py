"""Errors that the command line reports as a clear message (no traceback)."""


class TodError(Exception):
    """Base of every error the user should see as a message, not a traceback."""


class DataError(TodError):
    """A data directory or data file is missing or malformed."""


class BackendError(TodError):
    """A backend query names something the schema does not have, or the database is missing."""


class RegistryError(TodError, KeyError):
    """An unknown component name."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else ""
