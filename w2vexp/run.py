"""`python -m w2vexp.run`: the command lives in `w2vexp.cli.run`."""
import sys

from .cli.run import main

if __name__ == "__main__":
    sys.exit(main())
