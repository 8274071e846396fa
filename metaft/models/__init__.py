"""Models at the boundary: factories returning a pure ``Model(init, apply)``.

Each factory takes ``num_outputs`` (set by the runner from the task family) and its own
settings. Flax is used inside; learners only see the pure pair.
"""

from typing import Sequence

import flax.linen as nn
import jax

from metaft import core
from metaft.models import activations
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


class ActivationLayer(nn.Module):
  """A pure ``activations.Activation`` as a Flax layer: one ``self.param`` per entry of its
  ``init``, none for ``'relu'``."""

  activation: str

  @nn.compact
  def __call__(self, x):
    act = activations.activation(self.activation)
    names = jax.eval_shape(lambda: act.init(x.shape[-1])).keys()
    params = {k: self.param(k, lambda _, k=k: act.init(x.shape[-1])[k]) for k in names}
    return act.apply(params, x)


class MLP(nn.Module):
  """A multi-layer perceptron, ReLU or another activation after each hidden layer."""

  hidden: Sequence[int]
  num_outputs: int
  activation: str = 'relu'

  @nn.compact
  def __call__(self, x):
    for i, width in enumerate(self.hidden):
      x = ActivationLayer(self.activation, name=f'act{i}')(nn.Dense(width)(x))
    return nn.Dense(self.num_outputs)(x)


def mlp(*, num_outputs: int, hidden: Sequence[int] = (40, 40),
        activation: str = 'relu') -> core.Model:
  """An MLP (1-40-40-1 with ReLU is the sine-regression model of Finn et al. 2017).

  Parameters: ``{'Dense_0': {'kernel', 'bias'}, ..., 'Dense_<len(hidden)>': ...}``, and for a
  learnable activation ``'act0'``, ``'act1'``, ... with each hidden layer's activation
  parameters (as in ``conv4``; see ``metaft.models.activations``).

  Args:
    num_outputs: the output dimension.
    hidden: the widths of the hidden layers.
    activation: one of ``activations.ACTIVATIONS``.
  """
  activations.activation(activation)  # validate now
  return from_flax(MLP(tuple(hidden), num_outputs, activation))
