"""`python -m orion_core` == `orion`."""

from .cli import main

main()
