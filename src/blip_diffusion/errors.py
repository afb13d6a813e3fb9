"""Errors that name a problem in the user's input.

Everything raised as :class:`InputError` is meant to be read by a person: one line that names the
file, argument or value at fault and what was expected. The command line prints it without a
traceback and exits with status 2.
"""


class InputError(ValueError):
    """Bad input from the user: a file, an argument or a model folder that cannot be used."""
