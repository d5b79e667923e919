"""One module per `hdc` subcommand: each has ``add_parser(subparsers)`` and ``run(args) -> int``."""
