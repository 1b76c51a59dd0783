"""`python -m yizhan` runs the command line."""

from yizhan.cli import main

main()
