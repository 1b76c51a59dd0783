"""`python -m yizhan` runs the command line."""

from yizhan.cli import main

if __name__ == "__main__":  # not when a child process imports it as its main module
    main()
