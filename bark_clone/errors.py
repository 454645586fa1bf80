"""The one exception type for problems a user can fix: the CLI prints it as a single line."""


class UserError(Exception):
    """A problem with the user's input, files or environment, stated in their terms.

    The CLI prints ``str(error)`` on one line and exits with status 1; the traceback only appears with ``--debug``.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))
