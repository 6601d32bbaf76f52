"""What stops the running agent from outside a worker: the command line maps it to an exit
code (kept apart from the engine's modules so the CLI imports nothing heavy for it)."""


class InputStartFailed(Exception):
    """An input could not start (a listener's port in use, ...): the agent stops, with what
    it had started, and the process exits non-zero, as Telegraf does."""
