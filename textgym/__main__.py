"""``python -m textgym`` runs the ``textgym`` command."""

from textgym.cli import main

raise SystemExit(main())
