"""Parameter masks over '/'-joined key paths, and freezing the masked-out part of a model.

A path names a leaf by its keys from the root: ``'head/w'``, ``'Dense_2/kernel'``,
``'conv0/b'``. Fine-tuning and ANIL-style learners choose what to train with these, as a
predicate or as a spec string of a config (``'head+batchnorm'``, see ``predicate``).
"""

import re
from typing import Callable

import jax
import optax

from metaft import core
from metaft.errors import UserError

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
  order (``Dense_2`` of ``{'Dense_0', 'Dense_1', 'Dense_2'}``, ``w`` of ``{'b', 'w'}``),
  normalisation and activation layers left out (``Dense_2``, not ``act1``, of an MLP with
  learnable activations)."""
  keys = [path_str(p[:1]) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
  natural = lambda k: [int(t) if t.isdigit() else t for t in re.split(r'(\d+)', k)]
  layers = [k for k in keys if not (batchnorm(k) or activations(k))] or keys
  return 'head' if 'head' in keys else max(layers, key=natural)


_NORM = re.compile(r'bn\d+|BatchNorm_\d+|LayerNorm_\d+')
_ACT = re.compile(r'act\d+')
_INDEX = re.compile(r'(\d+)$')


def batchnorm(path: str) -> bool:
  """True for leaves of normalisation layers: a path component ``bn<i>`` (conv4),
  ``BatchNorm_<i>`` or ``LayerNorm_<i>`` (Flax)."""
  return any(_NORM.fullmatch(c) for c in path.split('/'))


def activations(path: str) -> bool:
  """True for leaves of learnable activations: a path component ``act<i>`` (conv4, mlp)."""
  return any(_ACT.fullmatch(c) for c in path.split('/'))


def after_blocks(k: int) -> Predicate:
  """Everything but the first ``k`` blocks: True where the top-level key ends in an index
  ``i >= k`` (``conv2``, ``bn2``, ``act2``, ``Dense_2`` for ``k = 2``) or has none
  (``head``)."""
  def pred(path):
    index = _INDEX.search(path.split('/')[0])
    return index is None or int(index.group(1)) >= k
  return pred


SPEC_FORMS = ("'all', 'head', 'batchnorm', 'activations', 'skip:K' (K a non-negative "
              "integer), 're:PATTERN' (re.search on the '/'-joined path; last in a union), "
              "or a union of these joined by '+' ('head+batchnorm')")


def _terms(spec):
  """``spec`` split at '+', except that a ``re:`` term takes the rest of the string."""
  terms, rest = [], spec
  while True:
    if rest.startswith('re:'):
      return terms + [rest]
    term, plus, rest = rest.partition('+')
    terms.append(term)
    if not plus:
      return terms


def _term(term, spec, params):
  if term == 'all':
    return lambda path: True
  if term == 'head':
    return under(last_layer(params) if params is not None else 'head')
  if term == 'batchnorm':
    return batchnorm
  if term == 'activations':
    return activations
  if skip := re.fullmatch(r'skip:([0-9]+)', term):
    return after_blocks(int(skip.group(1)))
  if term.startswith('re:'):
    try:
      pattern = re.compile(term[3:])
    except re.error as e:
      raise UserError(f'mask spec {spec!r}: {term[3:]!r} is not a regular expression ({e}).')
    return lambda path: pattern.search(path) is not None
  raise UserError(f'mask spec {spec!r}: {term!r} is not one of the accepted forms, '
                  f'{SPEC_FORMS}.')


def predicate(spec: str | Predicate, params: core.PyTree | None = None) -> Predicate:
  """The predicate over '/'-joined paths that a config's mask spec names.

  Specs: ``'all'``; ``'head'``, the last layer (``last_layer(params)`` when ``params`` are
  given, else the top-level key ``'head'``, conv4's); ``'batchnorm'`` (``batchnorm``);
  ``'activations'`` (``activations``); ``'skip:K'`` (``after_blocks(K)``); ``'re:PATTERN'``
  (``re.search(PATTERN, path)``; it takes the rest of the string, so it comes last in a
  union); and unions joined by ``'+'``. A callable is returned unchanged.

  Args:
    spec: a spec string or a predicate.
    params: the parameters, to resolve ``'head'`` (``trainable_mask`` passes them).

  Returns:
    A ``Predicate``.

  Example::

    pred = predicate('head+batchnorm')
    pred('bn0/scale'), pred('head/w'), pred('conv0/w')  # True, True, False
  """
  if callable(spec):
    return spec
  if not isinstance(spec, str):
    raise UserError(f'a mask spec is a string or a predicate, got {spec!r}.')
  preds = [_term(t, spec, params) for t in _terms(spec)]
  return lambda path: any(p(path) for p in preds)


def trainable_mask(params: core.PyTree, spec: str | Predicate) -> core.PyTree:
  """``path_mask(params, predicate(spec, params))``, which must select some leaf.

  Example::

    opt = freeze(optax.adam(1e-3), trainable_mask(params, 'activations'))
  """
  mask = path_mask(params, predicate(spec, params))
  if not any(jax.tree.leaves(mask)):
    paths = [path_str(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)]
    raise UserError(f'spec {spec!r} selects none of the parameters: {", ".join(paths)}')
  return mask


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
