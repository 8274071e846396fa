"""Models at the boundary: factories returning a pure ``Model(init, apply)``.

Each factory takes ``num_outputs`` (set by the runner from the task family) and its own
settings. Flax is used inside; learners only see the pure pair.
"""

from typing import Sequence

import flax.linen as nn

from metaft import core
from metaft.models.conv import conv4

__all__ = ['conv4', 'from_flax', 'mlp']


def from_flax(module: nn.Module) -> core.Model:
  """Wraps a Flax linen module as a pure ``(init, apply)`` pair over its ``params``.

  Batch norm follows MAML's convention: statistics of the current batch at meta-training
  and meta-test time alike, no running averages. A module's ``batch_stats`` collection is
  therefore computed afresh in every call and dropped.
  """

  def init(key, x):
    return module.init(key, x)['params']

  def apply(params, x):
    out, _ = module.apply({'params': params}, x, mutable=['batch_stats'])
    return out

  return core.Model(init, apply)


class MLP(nn.Module):
  """A ReLU multi-layer perceptron."""

  hidden: Sequence[int]
  num_outputs: int

  @nn.compact
  def __call__(self, x):
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.num_outputs)(x)


def mlp(*, num_outputs: int, hidden: Sequence[int] = (40, 40)) -> core.Model:
  """An MLP (1-40-40-1 with ReLU is the sine-regression model of Finn et al. 2017)."""
  return from_flax(MLP(tuple(hidden), num_outputs))
