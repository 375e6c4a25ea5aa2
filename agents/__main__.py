"""``python -m agents`` runs the ``textgym`` command (which lives with the agents: see :mod:`agents.cli`)."""

from agents.cli import main

raise SystemExit(main())
