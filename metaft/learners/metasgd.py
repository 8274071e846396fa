"""Meta-SGD (Li, Zhou, Chen & Li, 2017): per-parameter inner learning rates, meta-learned."""

import jax
import jax.numpy as jnp
import optax

from metaft import core
from metaft.errors import UserError
from metaft.learners.maml import maml


def scale_by_rates(lrs: core.PyTree) -> optax.GradientTransformation:
  """SGD with a learning rate per parameter entry: ``update = -lrs * grad``."""
  def update(grads, state, params=None):
    del params
    return jax.tree.map(lambda g, a: -a * g, grads, lrs), state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update)


def metasgd(
    model: core.Model,
    loss,
    *,
    inner_steps: int = 1,
    init_lr: float | None = None,
    lr_range: tuple[float, float] = (0.005, 0.1),
    first_order: bool = False,
    l2_sp: float = 0.0,
) -> core.MetaLearner:
  """Meta-SGD: MAML whose inner SGD has a meta-learned rate for every parameter entry.

  ``phi = theta - alpha * grad L_s(theta)`` (elementwise); ``theta`` and ``alpha`` are both
  meta-parameters, ``{'params': theta, 'lrs': alpha}``, trained on the query loss of ``phi``.
  The rates are not constrained (they may turn negative), as in the paper.

  Args:
    model, loss, first_order, l2_sp: as for ``maml``.
    inner_steps: inner steps at meta-training time (the paper takes one).
    init_lr: a constant initial rate; None draws each rate from ``U[lr_range]`` (the paper's
      ``[0.005, 0.1]``).
    lr_range: the uniform initialisation range when ``init_lr`` is None.

  Returns:
    A ``MetaLearner`` over ``{'params', 'lrs'}``; ``adapt`` returns the model's parameters.

  Example::

    learner = metasgd(models.mlp(num_outputs=1), losses.mse)
    meta = learner.init(key, x)          # {'params': ..., 'lrs': ...}
  """
  if inner_steps < 0:
    raise UserError(f'inner_steps must be >= 0, got {inner_steps}.')

  def init(key, x):
    k_params, k_lrs = jax.random.split(key)
    params = model.init(k_params, x)
    leaves, treedef = jax.tree.flatten(params)
    if init_lr is not None:
      rates = [jnp.full_like(p, init_lr) for p in leaves]
    else:
      keys = jax.random.split(k_lrs, len(leaves))
      rates = [jax.random.uniform(k, p.shape, p.dtype, *lr_range) for k, p in zip(keys, leaves)]
    return {'params': params, 'lrs': jax.tree.unflatten(treedef, rates)}

  def inner(meta):  # MAML with the meta-learned rates as its inner optimizer
    return maml(model, loss, inner_steps=inner_steps, first_order=first_order,
                inner_opt=scale_by_rates(meta['lrs']), l2_sp=l2_sp)

  def adapt(meta, support, *, steps=None, key=None):
    return inner(meta).adapt(meta['params'], support, steps=steps, key=key)

  def meta_loss(meta, task, *, key=None):
    return inner(meta).meta_loss(meta['params'], task, key=key)

  return core.MetaLearner(init, adapt, model.apply, meta_loss)
