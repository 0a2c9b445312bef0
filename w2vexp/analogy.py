"""`python -m w2vexp.analogy`: the command lives in `w2vexp.cli.analogy`."""
import sys

from .cli.analogy import main

if __name__ == "__main__":
    sys.exit(main())
