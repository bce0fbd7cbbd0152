"""`python -m bot`: the same command line as `bot`."""

from .cli import main

main()
