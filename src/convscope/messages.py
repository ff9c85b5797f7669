"""How a value a user gave is shown in an error message: its repr, cut to a few dozen characters
whatever its size (a 100,000-character name, a list of a million numbers)."""
from __future__ import annotations

import reprlib

_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxtuple, _SHORT.maxstring, _SHORT.maxother = 3, 6, 6, 6, 60, 60


def excerpt(value) -> str:
    """repr(value), bounded."""
    return _SHORT.repr(value)
