"""Nested containers of arrays (dicts, lists, tuples, NamedTuples) and the few maps over them.

Parameters, gradients and states are such trees: ``params["layers"][0]["fwd"]["W_x"]``.
Layer and direction come from the container, never from formatted attribute
names; ``flatten`` gives the dotted paths only where a flat view is needed
(optimizers, logging, checkpoints).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator


def _is_namedtuple(x) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` leafwise to ``tree`` (and matching ``rest``), keeping the structure. ``None`` stays ``None``."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {k: tree_map(fn, v, *(r[k] for r in rest)) for k, v in tree.items()}
    if _is_namedtuple(tree):
        return type(tree)(*(tree_map(fn, v, *(r[i] for r in rest)) for i, v in enumerate(tree)))
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, v, *(r[i] for r in rest)) for i, v in enumerate(tree))
    return fn(tree, *rest)


def leaves_with_paths(tree: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Yield ``(dotted.path, leaf)`` in a fixed order (dict insertion order)."""
    if tree is None:
        return
    if isinstance(tree, dict):
        items = tree.items()
    elif _is_namedtuple(tree):
        items = zip(tree._fields, tree)
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        yield prefix, tree
        return
    for key, value in items:
        yield from leaves_with_paths(value, f"{prefix}.{key}" if prefix else str(key))


def first_leaf(tree: Any) -> Any:
    """The first leaf of ``tree`` in ``leaves_with_paths`` order, or None for an empty tree."""
    return next((leaf for _, leaf in leaves_with_paths(tree)), None)


def flatten(tree: Any) -> dict[str, Any]:
    """``{dotted.path: leaf}``; the leaves are the tree's own arrays (in-place updates show through)."""
    return dict(leaves_with_paths(tree))


def tree_add_(acc: Any, tree: Any) -> Any:
    """``acc += tree`` leafwise, in place where ``acc`` holds arrays; returns ``acc``."""
    if acc is None:
        return tree_map(lambda x: x.copy(), tree)
    for (_, a), (_, b) in zip(leaves_with_paths(acc), leaves_with_paths(tree)):
        a += b
    return acc
