"""`kubedag` subcommands that act on a cluster, one module each (cli.py wires them)."""
