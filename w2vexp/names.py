"""Run-folder names (SPEC section 3): what a run's folder under `outputs/<name>/` is called.

The name is made from the job's command-line overrides (Hydra's `hydra.overrides.task`, the
same list with and without `-m`), sorted and joined as `key=value` with `,` like Hydra's
`override_dirname`, with three guarantees a user relies on:

- only the characters `A-Za-z0-9._=,:@-`, which TensorBoard's web page passes unencoded in its
  URLs (a '+' there arrives as a space and the Projector cannot find the run);
- one level deep: a path value shows as its file name, so `data.path=/home/me/corpus.txt`
  never nests folders;
- at most 255 bytes (the limit of one file name on common file systems).

A value that had to be changed (a path, a character outside the set) carries `@` and a short
hash of its full text, and a name that would be too long becomes a readable prefix plus `@` and
a hash of the whole override list, so different overrides never share a folder. The full
overrides stay in `.hydra/overrides.yaml` and `run.json`. Nothing here imports TensorFlow.
"""
from __future__ import annotations

import hashlib
import re

# keys left out of a run folder's name, and so out of what tells runs apart
NOT_IN_RUN_NAME = ("name", "resume", "train.log_every")
SAFE = re.compile(r"[^A-Za-z0-9._=,:@-]")
MAX_BYTES = 255
HASH_CHARS = 8


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_CHARS]


def override_key(override: str) -> str:
    """The config key of a command-line override (`+a.b=1` -> `a.b`)."""
    return override.split("=", 1)[0].lstrip("+~")


def canonical(override: str) -> str:
    """An override with its value parsed and printed again as Hydra's basic sweeper prints a
    job's overrides (`lr=0.50` -> `lr=0.5`, `keep_unk=false` -> `keep_unk=False`; a string as
    itself, quoted or not), so a run and the same job of a multirun get the same name.
    Deletions and sweeps stay as typed."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        (o,) = OverridesParser.create().parse_overrides([override])
    except Exception:  # noqa: BLE001 - Hydra has already refused what it cannot parse
        return override
    if o.is_delete() or o.is_sweep_override():
        return override
    value = o.value()
    return f"{o.get_key_element()}={value if isinstance(value, str) else o.get_value_element_as_str()}"


def kept_overrides(overrides) -> list[str]:
    """The overrides that name a run, in canonical form: without the excluded keys and Hydra's
    own, without the `+`/`~` prefixes (`+experiment=quick` and `experiment=quick` are the same
    run), sorted."""
    out = []
    for o in overrides:
        o = canonical(str(o).lstrip("+~"))
        key = override_key(o)
        if key in NOT_IN_RUN_NAME or key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        out.append(o)
    return sorted(out)


def _value(value: str) -> str:
    """A value as it shows in a folder name: a path as its file name, unsafe characters as '_',
    plus '@' and a hash of the full value whenever anything was changed."""
    shown = value.rstrip("/").rsplit("/", 1)[-1] if "/" in value else value
    shown = SAFE.sub("_", shown)
    return shown if shown == value else f"{shown}@{_hash(value)}"


def run_dirname(overrides) -> str:
    """The folder name of a run with these command-line overrides (`default` for none)."""
    kept = kept_overrides(overrides)
    if not kept:
        return "default"
    parts = []
    for o in kept:
        key, sep, value = o.partition("=")
        parts.append(SAFE.sub("_", key) + sep + _value(value))
    name = ",".join(parts)
    if len(name.encode()) <= MAX_BYTES:
        return name
    tail = "@" + _hash("\n".join(kept))
    return name[: MAX_BYTES - len(tail)].rstrip(",") + tail
