"""`python -m w2vexp.reproduce`: the command lives in `w2vexp.cli.reproduce`."""
import sys

from .cli.reproduce import main

if __name__ == "__main__":
    sys.exit(main())
