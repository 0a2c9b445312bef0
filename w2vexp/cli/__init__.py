"""The command-line tools (SPEC section 8): each module parses its arguments, calls the library
(`w2vexp.pipeline`, `w2vexp.runs`, `w2vexp.evaluate`, `w2vexp.compare`, `w2vexp.plot`) and reports
a user's mistake in one line. `python -m w2vexp.<command>` and the `w2vexp-<command>` scripts
run them: run, evaluate, compare, neighbors, analogy, plot, reproduce."""
from __future__ import annotations

import sys

from ..errors import UserError


def fail(e: Exception) -> int:
    """Report a tool's error in one line; user errors exit 2, anything else is re-raised."""
    if isinstance(e, UserError):
        print(f"error: {e}", file=sys.stderr)
        return 2
    raise e


def resolve_words(kv, words) -> list:
    """The user's words as vocabulary keys (lower-cased unless the word itself is a key), or a
    UserError naming those that are not in the vocabulary."""
    words = [w if w in kv.key_to_index else w.lower() for w in words]
    missing = [w for w in words if w not in kv.key_to_index]
    if missing:
        raise UserError(f"not in the vocabulary: {', '.join(missing)}")
    return words
