"""``python -m app`` runs the ``segue`` CLI from whatever checkout is on sys.path."""

from app.cli import main

main()
