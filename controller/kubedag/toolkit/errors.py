"""The one error the toolkit reports to the user."""


class ToolkitError(Exception):
    """A message for the user: the command prints it and exits 1, which fails the task."""
