"""The ``alphabook`` command."""
