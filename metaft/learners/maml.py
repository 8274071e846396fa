"""MAML and first-order MAML (Finn, Abbeel & Levine, ICML 2017)."""

import functools
from typing import Callable

import optax

from metaft import core
from metaft import finetune


def support_loss(model: core.Model, loss, params, split: core.Split):
  """The loss of ``model`` with ``params`` on one split."""
  return loss(model.apply(params, split.x), split.y)


def maml(
    model: core.Model,
    loss,
    *,
    inner_lr: float = 0.01,
    inner_steps: int = 1,
    inner_opt: optax.GradientTransformation | None = None,
    first_order: bool = False,
    trainable: str | Callable[[str], bool] = 'all',
    inner_batch: int | None = None,
    l2_sp: float = 0.0,
) -> core.MetaLearner:
  """Model-Agnostic Meta-Learning.

  ``adapt`` takes ``inner_steps`` steps of ``inner_opt`` (SGD at ``inner_lr`` by default) on
  the support loss (``finetune.make_adapt``, the loop fine-tuning runs); the meta-loss is the
  query loss of the adapted parameters, ``L_q(theta - lr * grad L_s(theta))`` for one step,
  differentiated through the inner loop.

  Args:
    model: the network, as a pure ``(init, apply)`` pair.
    loss: ``loss(outputs, y) -> scalar``.
    inner_lr: the inner SGD learning rate (ignored when ``inner_opt`` is given).
    inner_steps: inner steps at meta-training time (``adapt(..., steps=n)`` overrides it).
    inner_opt: any optax transformation for the inner loop; ANIL, for instance, is MAML with
      an inner optimizer that leaves the body's parameters at zero update.
    first_order: stop the gradient through the inner updates (FOMAML).
    trainable: what the inner loop adapts, a ``masks.predicate`` spec (``'head'`` is ANIL's
      choice; ``'activations'`` meta-learns a network whose tasks adapt only its learnable
      activation functions); everything is meta-learned in the outer loop.
    inner_batch: inner steps on random minibatches of this many support examples (None:
      the whole support set), drawn from the key ``adapt`` and ``meta_loss`` are given.
    l2_sp: add ``l2_sp / 2 * ||phi - theta||^2`` to the support loss (``finetune.make_adapt``):
      proximal MAML, whose meta-gradient, differentiated through enough inner steps, is
      iMAML's implicit one at ``lam = l2_sp`` (at the memory cost of backpropagating through
      the inner loop, which ``imaml`` avoids).

  Returns:
    A ``MetaLearner``.

  Example::

    learner = maml(mlp(num_outputs=1), losses.mse, inner_lr=0.01)
    loss, aux = learner.meta_loss(params, task)
  """
  optimizer = inner_opt if inner_opt is not None else optax.sgd(inner_lr)

  adapt = finetune.make_adapt(model, loss, optimizer, inner_steps, first_order=first_order,
                              trainable=trainable, batch_size=inner_batch, l2_sp=l2_sp)

  def meta_loss(params, task, *, key=None):
    adapted = adapt(params, task.support, key=key)
    query_loss = support_loss(model, loss, adapted, task.query)
    return query_loss, {}

  return core.MetaLearner(model.init, adapt, model.apply, meta_loss)


fomaml = functools.partial(maml, first_order=True)
fomaml.__doc__ = 'First-order MAML: ``maml(..., first_order=True)``.'
