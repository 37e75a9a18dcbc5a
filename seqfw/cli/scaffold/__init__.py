"""The files ``python -m seqfw.new_cell`` writes (``seqfw.cli.new_cell``), as ``string.Template`` texts.

Each ``*.tmpl`` is the file itself with ``$name``-style placeholders (``$$`` for a literal ``$``),
so it reads as the package it becomes. They are package data: pyproject.toml ships them.
"""
