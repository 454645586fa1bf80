"""The exceptions for problems a user can fix: ``UserError`` (the CLI prints it as one line) and ``ApiError`` (the
server answers it with its status and a JSON message, never showing a server path: ``client_message``); ``Advice``,
the warning the CLI shows as one line."""

import os
import re

SERVER_PATH = re.compile(r"(?<![\w.~-])/(?:[^\s/'\"`]+/)+([^\s/'\"`]+)")  # /a/b/name: an absolute path


def client_message(message: str) -> str:
    """A message as a client of the server may read it: every absolute path of this machine (the speakers folder, a
    model folder, a temporary upload) cut to its last part, the file's own name. Every ``ApiError`` and every error
    answer passes here."""
    def name_only(match: re.Match) -> str:
        first = match.group(0).split("/")[1]
        return match.group(1) if os.path.exists("/" + first) else match.group(0)  # /v1/... routes stay whole

    return SERVER_PATH.sub(name_only, message)


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
        self.status, self.headers = status, headers or {}
        self.message = client_message(" ".join(str(message).split()))


class Advice(UserWarning):
    """Advice for the user from deep inside the library (``warnings.warn(Advice(...))``): the CLI prints it as one
    ``warning:`` line even when other libraries' warnings are hidden."""
