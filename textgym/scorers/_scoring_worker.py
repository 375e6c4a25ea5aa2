"""A host-scoring worker process: ``python -m textgym.scorers._scoring_worker`` (started by ParallelScorer).

A fresh interpreter, not a fork or a ``multiprocessing`` spawn: it never re-imports the user's ``__main__`` and
shares no memory with the env's process (a fork would make every page that process writes afterwards a
copy-on-write fault). Protocol on stdin/stdout, pickled: first the scorer (answered with ``("ready", None)``),
then ``(texts, references)`` requests answered with ``("ok", scores)`` or ``("error", message)``; ``None`` or
end of input stops it.
"""

from __future__ import annotations

import pickle
import signal
import sys

import numpy as np

from textgym.memory import tune_malloc
from textgym.tasks.base import Example


def main() -> None:
    """Serve scoring requests until ``None`` or end of input."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides (it closes our stdin), so a
    # worker neither dies mid-reply nor prints a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tune_malloc()  # it scores batches of megabytes too (textgym.memory)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # anything a library prints stays off the reply stream

    def reply(message: tuple) -> None:
        pickle.dump(message, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()

    try:
        scorer = pickle.load(requests)
    except EOFError:
        return
    reply(("ready", None))
    while True:
        try:
            request = pickle.load(requests)
        except EOFError:
            return
        if request is None:
            return
        texts, references = request
        try:
            examples = [Example("", "", refs) for refs in references]
            reply(("ok", np.asarray(scorer.score(texts, examples), dtype=np.float64)))
        except Exception as exc:  # reported to the parent, which scores the share itself
            reply(("error", f"{type(exc).__name__}: {exc}"))


if __name__ == "__main__":
    main()
