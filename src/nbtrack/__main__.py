"""``python -m nbtrack`` is the ``nbtrack`` command."""

from .cli import main

main()
