"""The one exception type a user's mistake raises."""


class UserError(Exception):
  """A mistake in what the user asked for (experiment, config value, data path).

  The command line prints its message and exits with status 2, without a traceback.
  """
