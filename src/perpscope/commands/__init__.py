"""CLI subcommands, one module each. A module here must define ``register(subparsers)``.

Shared argument helpers live in ``_common``."""
