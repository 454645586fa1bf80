"""The exceptions for problems a user can fix: ``UserError`` (the CLI prints it as one line) and ``ApiError`` (the
server answers it with its status and a JSON message); ``Advice``, the warning the CLI shows as one line."""


class UserError(Exception):
    """A problem with the user's input, files or environment, stated in their terms.

    The CLI prints ``str(error)`` on one line and exits with status 1; the traceback only appears with ``--debug``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ApiError(Exception):
    """An HTTP error response: its status and a message for people; every error body is {"error": message}."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, " ".join(str(message).split()), headers or {}


class Advice(UserWarning):
    """Advice for the user from deep inside the library (``warnings.warn(Advice(...))``): the CLI prints it as one
    ``warning:`` line even when other libraries' warnings are hidden."""
