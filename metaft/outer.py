"""The outer loop, written once for every learner: map the per-task meta-loss over a batch
of tasks, differentiate, and apply an optax outer optimizer, all under one ``jit``.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from metaft import core
from metaft.errors import UserError

TASK_MAPS = ('vmap', 'map')


def meta_gradient(
    learner: core.MetaLearner,
    meta_params: core.PyTree,
    tasks: core.Task,
    *,
    task_map: str = 'vmap',
    key: jax.Array,
) -> tuple[jax.Array, dict, core.PyTree]:
  """Mean meta-loss over a batch of tasks, its aux means, and its gradient.

  Args:
    learner: the meta-learner.
    meta_params: its meta-parameters.
    tasks: a batch of tasks (leading task axis).
    task_map: ``'vmap'`` differentiates the vmapped mean; ``'map'`` processes tasks one after
      another in a ``lax.scan``, accumulating each task's gradient. Both give the same numbers;
      ``'map'`` uses less memory and is often faster for convolutions on the CPU.
    key: PRNG key, split into one key per task.

  Returns:
    ``(loss, aux, grads)``: means over the tasks.
  """
  num_tasks = jax.tree.leaves(tasks)[0].shape[0]
  keys = jax.random.split(key, num_tasks)
  task_grad = jax.value_and_grad(
      lambda p, t, k: learner.meta_loss(p, t, key=k), has_aux=True)

  if task_map == 'vmap':
    (loss_T, aux_T), grads_T = jax.vmap(task_grad, in_axes=(None, 0, 0))(
        meta_params, tasks, keys)
    mean = lambda x: jnp.mean(x, axis=0)
    return mean(loss_T), jax.tree.map(mean, aux_T), jax.tree.map(mean, grads_T)
  if task_map == 'map':
    def body(acc, inputs):
      (loss, aux), grads = task_grad(meta_params, *inputs)
      return jax.tree.map(jnp.add, acc, grads), (loss, aux)

    zeros = jax.tree.map(jnp.zeros_like, meta_params)
    grads, (loss_T, aux_T) = jax.lax.scan(body, zeros, (tasks, keys))
    mean = lambda x: jnp.mean(x, axis=0)
    grads = jax.tree.map(lambda g: g / num_tasks, grads)
    return mean(loss_T), jax.tree.map(mean, aux_T), grads
  raise UserError(f'task_map must be one of {TASK_MAPS}, got {task_map!r}.')


def init_state(meta_params: core.PyTree, optimizer: optax.GradientTransformation) -> dict:
  """The train state: a plain dict of arrays (a copy: training donates its buffers)."""
  meta_params = jax.tree.map(jnp.copy, meta_params)
  return {'params': meta_params, 'opt_state': optimizer.init(meta_params),
          'step': jnp.zeros((), jnp.int32)}


def make_train_fn(
    learner: core.MetaLearner,
    optimizer: optax.GradientTransformation,
    family: core.TaskFamily,
    *,
    meta_batch: int,
    num_steps: int,
    task_map: str = 'vmap',
) -> Callable[[dict, core.PyTree, jax.Array], tuple[dict, dict]]:
  """Returns ``train(state, data, key) -> (state, metrics)`` running ``num_steps`` meta-steps.

  ``data`` is ``family.data`` (an argument, so a data set is not compiled into the program).

  The steps run in one ``lax.scan`` inside one ``jit`` call (state buffers donated), so the
  Python loop only sees every ``num_steps``-th step. Step ``s`` samples its tasks with
  ``fold_in(key, s)``: the same seed gives the same run, and a run resumed from a checkpoint
  continues exactly as if it had never stopped. ``metrics`` holds per-step ``loss`` and aux
  values, shape ``[num_steps]``.
  """
  if task_map not in TASK_MAPS:
    raise UserError(f'task_map must be one of {TASK_MAPS}, got {task_map!r}.')

  def one_step(state, data, key):
    step_key = jax.random.fold_in(key, state['step'])
    sample_key, loss_key = jax.random.split(step_key)
    tasks = family.sample(data, meta_batch, key=sample_key)
    loss, aux, grads = meta_gradient(
        learner, state['params'], tasks, task_map=task_map, key=loss_key)
    updates, opt_state = optimizer.update(grads, state['opt_state'], state['params'])
    new_state = {'params': optax.apply_updates(state['params'], updates),
                 'opt_state': opt_state, 'step': state['step'] + 1}
    return new_state, {'loss': loss, **aux}

  def train(state, data, key):
    return jax.lax.scan(lambda s, _: one_step(s, data, key), state, None, length=num_steps)

  return jax.jit(train, donate_argnums=0)
