"""Parameter masks over '/'-joined key paths, and freezing the masked-out part of a model.

A path names a leaf by its keys from the root: ``'head/w'``, ``'Dense_2/kernel'``,
``'conv0/b'``. Fine-tuning and ANIL-style learners choose what to train with these.
"""

import re
from typing import Callable

import jax
import optax

from metaft import core

Predicate = Callable[[str], bool]


def path_str(path) -> str:
  """A ``jax.tree_util`` key path as ``'a/b/0'``."""
  names = (getattr(k, 'key', getattr(k, 'idx', getattr(k, 'name', k))) for k in path)
  return '/'.join(str(n) for n in names)


def path_mask(params: core.PyTree, predicate: Predicate) -> core.PyTree:
  """A pytree of bools like ``params``: ``predicate(path)`` for every leaf."""
  return jax.tree_util.tree_map_with_path(lambda p, _: bool(predicate(path_str(p))), params)


def under(prefix: str) -> Predicate:
  """True for the leaf ``prefix`` and every leaf below it (``under('head')``)."""
  return lambda path: path == prefix or path.startswith(prefix + '/')


def last_layer(params: core.PyTree) -> str:
  """The top-level key ``'head'`` if there is one, else the last top-level key in natural
  order (``Dense_2`` of ``{'Dense_0', 'Dense_1', 'Dense_2'}``, ``w`` of ``{'b', 'w'}``)."""
  keys = [path_str(p[:1]) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
  natural = lambda k: [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', k)]
  return 'head' if 'head' in keys else max(keys, key=natural)


def freeze(optimizer: optax.GradientTransformation,
           trainable: core.PyTree | Callable[[core.PyTree], core.PyTree]
           ) -> optax.GradientTransformation:
  """``optimizer`` on the leaves where ``trainable`` is True, exactly zero updates elsewhere.

  Unlike ``optax.masked``, which passes the masked-out gradients through unchanged (so
  ``apply_updates`` would take raw gradient steps there), frozen leaves stay where they are.

  Args:
    optimizer: the transformation for the trainable leaves.
    trainable: a pytree of bools like the parameters, or a function of the parameters that
      returns one (e.g. ``lambda p: path_mask(p, under('head'))``).

  Example::

    opt = freeze(optax.adam(1e-3), lambda p: path_mask(p, under('head')))
  """
  def labels(params):
    mask = trainable(params) if callable(trainable) else trainable
    return jax.tree.map(lambda t: 'train' if t else 'frozen', mask)

  return optax.multi_transform({'train': optimizer, 'frozen': optax.set_to_zero()}, labels)
