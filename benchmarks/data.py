"""Where the shared real data lives: ``$TEXTGYM_SHARED_DATA``, else ``../shared/data`` beside the checkout.

One lookup for the benchmarks, the leaderboard and the tests (``tests/data.py`` asks here).
"""

from __future__ import annotations

import os
from pathlib import Path

from textgym.error import DataFileNotFoundError

__all__ = ["ENV_VAR", "default_data_dir"]

ENV_VAR = "TEXTGYM_SHARED_DATA"


def default_data_dir() -> Path | None:
    """The shared data folder, or None where there is none.

    ``$TEXTGYM_SHARED_DATA`` wins when set (a set variable naming no folder is an error, not a silent skip);
    otherwise ``../shared/data`` from the working directory, then from the repository, when it exists.

    Raises:
        DataFileNotFoundError: ``$TEXTGYM_SHARED_DATA`` is set to something that is not a folder.
    """
    chosen = os.environ.get(ENV_VAR)
    if chosen:
        path = Path(chosen).expanduser().resolve()
        if not path.is_dir():
            raise DataFileNotFoundError(f"${ENV_VAR} is {chosen!r}, which is not a folder. Point it at the shared "
                                        f"data folder (the one holding multi30k/, tatoeba-laser/, ...) or unset it.")
        return path
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate.is_dir():
            return candidate
    return None
