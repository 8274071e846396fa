"""Reptile (Nichol, Achiam & Schulman, "On First-Order Meta-Learning Algorithms", 2018)."""

import jax
import jax.numpy as jnp
import optax

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

  One difference from the authors' code: their inner Adam keeps its moment estimates across
  tasks and meta-steps (only the network's variables are reset), while ``adapt`` here starts
  the optimizer afresh for each task. On Omniglot this scores far below the paper (see
  benchmarks/RESULTS.md).

  With ``inner_batch=10`` each inner step uses a random minibatch of 10 of the task's
  examples (support and query together play the paper's ``train_shots``); by default each
  step uses all of them.

  Args:
    model, loss: as for ``maml``.
    inner_lr: the inner Adam learning rate (ignored when ``inner_opt`` is given).
    inner_steps: inner steps at meta-training time (``adapt(..., steps=n)`` overrides it).
    inner_opt: the inner optimizer; by default the paper's ``optax.adam(inner_lr, b1=0)``.
    transductive: at test time, batch norm uses the statistics of the whole query batch
      (our models' default). False: each query example is normalised with the statistics of
      the support set plus that one example (Nichol et al.'s code); ``adapt`` then returns
      ``{'params', 'support_x'}`` and ``predict`` runs one forward pass per query example.
    inner_batch: the inner minibatch size (None: full batch), as for ``maml``.

  Returns:
    A ``MetaLearner``.

  Example::

    learner = reptile(models.mlp(num_outputs=1), losses.mse, inner_steps=5)
  """
  if inner_opt is None:
    inner_opt = optax.adam(inner_lr, b1=0.0)
  base = maml(model, loss, inner_steps=inner_steps, inner_opt=inner_opt,
              inner_batch=inner_batch)

  def adapt(params, support, *, steps=None, key=None):
    phi = base.adapt(params, support, steps=steps, key=key)
    return phi if transductive else {'params': phi, 'support_x': support.x}

  def predict(adapted, x_QxD):
    if transductive:
      return model.apply(adapted, x_QxD)
    params, support_SxD = adapted['params'], adapted['support_x']
    one = lambda x_D: model.apply(params, jnp.concatenate([support_SxD, x_D[None]]))[-1]
    return jax.vmap(one)(x_QxD)

  def meta_loss(params, task, *, key=None):
    both = task.merged()
    phi = base.adapt(jax.lax.stop_gradient(params), both, key=key)  # no backprop through it
    sq = sum(jnp.sum(jnp.square(t - p)) for t, p in zip(jax.tree.leaves(params),
                                                         jax.tree.leaves(phi)))
    return 0.5 * sq, {'adapted_loss': support_loss(model, loss, phi, both)}

  return core.MetaLearner(model.init, adapt, predict, meta_loss)
