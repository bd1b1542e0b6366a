"""Errors that mean "the user asked for something wrong" rather than "the code is broken"."""


class UserError(Exception):
    """Bad arguments or unreadable input: shown as one line, exit status 2, no traceback."""


class CheckFailed(Exception):
    """The work ran but found a problem (e.g. a verification mismatch): exit status 1."""
