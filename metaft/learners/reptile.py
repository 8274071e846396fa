"""Reptile (Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms", 2018)."""

import jax
import jax.numpy as jnp
import optax
from optax import tree_utils as otu

from metaft import core
from metaft.learners.maml import maml, support_loss


def reptile(
    model: core.Model,
    loss,
    *,
    inner_lr: float = 1e-3,
    inner_steps: int = 5,
    inner_opt: optax.GradientTransformation | None = None,
    transductive: bool = True,
    inner_batch: int | None = None,
    carry_inner_state: bool = False,
) -> core.MetaLearner:
  """Reptile: move the initialisation toward the parameters adapted to each task.

  ``phi = adapt(theta, task)`` on all of the task's data (support and query); the meta-loss
  ``0.5 * ||theta - stop_gradient(phi)||^2`` has gradient ``theta - phi``, so the shared
  outer step with SGD at ``eps`` is Reptile's ``theta += eps * mean_i(phi_i - theta)``.

  The paper (Omniglot): outer SGD with step size annealed linearly from 1.0 to 0 over
  training, meta-batch 5; inner Adam (``b1=0``) at 1e-3, 5 steps on minibatches of 10 in
  training, 50 steps at test time (5-way). In a config::

    outer = dict(name='sgd', learning_rate=dict(
        schedule='linear_schedule', init_value=1.0, end_value=0.0, transition_steps=100_000))

  ``carry_inner_state=True`` keeps the inner optimizer's state across tasks and meta-steps,
  as the authors' code does (it resets only the network's variables): the meta-parameters
  become ``{'params', 'inner_state'}``, every task starts from ``inner_state``, and the tasks'
  mean final state is carried to the next step (``aux['carry']``) and used at test time; on
  Omniglot it is worth 8-18 points over the pure default (benchmarks/RESULTS.md).

  Args:
    model, loss: as for ``maml``.
    inner_lr: the inner Adam learning rate (ignored when ``inner_opt`` is given).
    inner_steps: inner steps at meta-training time (``adapt(..., steps=n)`` overrides it).
    inner_opt: the inner optimizer; by default the paper's ``optax.adam(inner_lr, b1=0)``.
    transductive: at test time, batch norm uses the whole query batch's statistics. False:
      each query example is normalised with the support set plus itself (Nichol et al.'s
      code); ``adapt`` then returns ``{'params', 'support_x'}``, and ``predict`` runs one
      forward pass per query example.
    inner_batch: each inner step on a random minibatch of this many of the task's examples
      (support and query together are the paper's ``train_shots``); None: all of them.
    carry_inner_state: carry the inner optimizer's state across tasks and meta-steps.
  """
  if inner_opt is None:
    inner_opt = optax.adam(inner_lr, b1=0.0)
  base = maml(model, loss, inner_steps=inner_steps, inner_opt=inner_opt,
              inner_batch=inner_batch)

  def init(key, x):
    params = model.init(key, x)
    if not carry_inner_state:
      return params
    as_float = lambda a: a.astype(jnp.float32) if jnp.issubdtype(a.dtype, jnp.integer) else a
    return {'params': params, 'inner_state': jax.tree.map(as_float, inner_opt.init(params))}

  def inner(meta, split, **kwargs):  # -> (phi, the inner optimizer's final state or None)
    if not carry_inner_state:
      return base.adapt(meta, split, **kwargs), None
    return base.adapt(meta['params'], split, opt_state=meta['inner_state'], **kwargs)

  def adapt(meta, support, *, steps=None, key=None):
    phi = inner(meta, support, steps=steps, key=key)[0]
    return phi if transductive else {'params': phi, 'support_x': support.x}

  def predict(adapted, x_QxD):
    if transductive:
      return model.apply(adapted, x_QxD)
    params, support_SxD = adapted['params'], adapted['support_x']
    one = lambda x_D: model.apply(params, jnp.concatenate([support_SxD, x_D[None]]))[-1]
    return jax.vmap(one)(x_QxD)

  def meta_loss(meta, task, *, key=None):
    both = task.merged()
    phi, state = inner(jax.lax.stop_gradient(meta), both, key=key)  # no backprop through it
    params = meta['params'] if carry_inner_state else meta
    sq = otu.tree_norm(otu.tree_sub(params, phi), squared=True)
    aux = {'adapted_loss': support_loss(model, loss, phi, both)}
    if carry_inner_state:
      aux['carry'] = {'inner_state': state}
    return 0.5 * sq, aux

  return core.MetaLearner(init, adapt, predict, meta_loss)
