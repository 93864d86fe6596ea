"""Command line: ``feedsvc [--config PATH] COMMAND`` (also ``python -m feedsvc``).

``main`` builds the parser from the command modules it lists (``commands``, ``notify``); the
shared bits every command needs (exit codes, opening the database) live in ``common``.
"""
