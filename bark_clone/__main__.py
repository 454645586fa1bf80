"""``python -m bark_clone`` runs the CLI (torchrun and accelerate launch use this form)."""

from bark_clone.cli.main import main

main()
