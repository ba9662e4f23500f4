"""`python -m service` runs the `abri` command."""

from service.cli import main

main()
