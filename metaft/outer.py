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


def _task_means(learner, meta_params, tasks, keys, task_map):
  """Mean loss, aux and gradient over tasks with a leading axis, one key per task."""
  num_tasks = keys.shape[0]
  task_grad = jax.value_and_grad(
      lambda p, t, k: learner.meta_loss(p, t, key=k), has_aux=True)
  mean = lambda x: jnp.mean(x, axis=0)
  if task_map == 'vmap':
    (loss_T, aux_T), grads_T = jax.vmap(task_grad, in_axes=(None, 0, 0))(
        meta_params, tasks, keys)
    return mean(loss_T), jax.tree.map(mean, aux_T), jax.tree.map(mean, grads_T)
  if task_map == 'map':
    def body(acc, inputs):
      (loss, aux), grads = task_grad(meta_params, *inputs)
      return jax.tree.map(jnp.add, acc, grads), (loss, aux)

    zeros = jax.tree.map(jnp.zeros_like, meta_params)
    grads, (loss_T, aux_T) = jax.lax.scan(body, zeros, (tasks, keys))
    grads = jax.tree.map(lambda g: g / num_tasks, grads)
    return mean(loss_T), jax.tree.map(mean, aux_T), grads
  raise UserError(f'task_map must be one of {TASK_MAPS}, got {task_map!r}.')


def meta_gradient(
    learner: core.MetaLearner,
    meta_params: core.PyTree,
    tasks: core.Task,
    *,
    task_map: str = 'vmap',
    mesh: jax.sharding.Mesh | None = None,
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
    mesh: a mesh with a ``'tasks'`` axis of D devices to split the tasks over (data
      parallelism through ``jax.sharding``: each device maps over its share of the tasks, the
      gradient mean becomes an all-reduce). The numbers are those of the unsharded step.
    key: PRNG key, split into one key per task.

  Returns:
    ``(loss, aux, grads)``: means over the tasks.
  """
  num_tasks = jax.tree.leaves(tasks)[0].shape[0]
  keys = jax.random.split(key, num_tasks)
  if mesh is None:
    return _task_means(learner, meta_params, tasks, keys, task_map)
  groups = mesh.shape['tasks']
  if num_tasks % groups:
    raise UserError(f'the meta-batch ({num_tasks} tasks) must divide evenly over the '
                    f'{groups} devices of the mesh; change meta_batch or num_devices.')
  sharding = jax.sharding.NamedSharding(mesh, jax.P('tasks'))
  grouped = jax.tree.map(
      lambda x: jax.lax.with_sharding_constraint(
          x.reshape((groups, num_tasks // groups) + x.shape[1:]), sharding), (tasks, keys))
  loss_D, aux_D, grads_D = jax.vmap(
      lambda t, k: _task_means(learner, meta_params, t, k, task_map))(*grouped)
  mean = lambda x: jnp.mean(x, axis=0)
  return mean(loss_D), jax.tree.map(mean, aux_D), jax.tree.map(mean, grads_D)


def task_mesh(num_devices: int) -> jax.sharding.Mesh | None:
  """A 1-D mesh named ``'tasks'`` over the first ``num_devices`` devices (0: all of them);
  ``None`` for one device. Over several processes (``initialize_distributed``) the devices
  are those of every process, and the mesh must span all of them."""
  available = jax.device_count()
  n = available if num_devices == 0 else num_devices
  if not 0 <= num_devices <= available:
    raise UserError(f'num_devices={num_devices} but {available} devices are visible '
                    f'({jax.devices()[0].platform}); use 0 for all of them.')
  if jax.process_count() > 1 and n != available:
    raise UserError(f'num_devices={num_devices}, but a run over {jax.process_count()} processes '
                    f'splits its tasks over all their {available} devices: set '
                    '--config.num_devices=0.')
  auto = (jax.sharding.AxisType.Auto,)  # shardings propagate by XLA from one constraint
  return None if n == 1 else jax.make_mesh((n,), ('tasks',), auto, devices=jax.devices()[:n])


def initialize_distributed(coordinator: str | None = None, num_processes: int | None = None,
                           process_id: int | None = None) -> None:
  """Joins this process to a multi-process JAX run (``jax.distributed.initialize``), before
  any computation. Without arguments the cluster is detected (Cloud TPU, Slurm, Open MPI);
  elsewhere give all three. Each process then runs the same program on its own devices, and
  a mesh over ``jax.devices()`` spans every process's (collectives over gloo on the CPU)."""
  given = [v is not None for v in (coordinator, num_processes, process_id)]
  if any(given) and not all(given):
    raise UserError('a distributed run needs all of --coordinator HOST:PORT, --num-processes N '
                    'and --process-id I, or none of them (to detect a TPU, Slurm or Open MPI '
                    'cluster).')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  try:
    jax.distributed.initialize(coordinator, num_processes, process_id)
  except (RuntimeError, ValueError) as e:
    raise UserError(f'jax.distributed.initialize failed: {e}') from None


def init_state(meta_params: core.PyTree, optimizer: optax.GradientTransformation) -> dict:
  """The train state: a plain dict of arrays.

  The parameters are copied (training donates its buffers) with strong dtypes: a weakly typed
  leaf such as ``jnp.log(0.01)`` would change type after its first update and make the
  training step compile twice.
  """
  meta_params = jax.tree.map(lambda x: jnp.array(x, dtype=jnp.asarray(x).dtype), meta_params)
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
    mesh: jax.sharding.Mesh | None = None,
) -> Callable[[dict, core.PyTree, jax.Array], tuple[dict, dict]]:
  """Returns ``train(state, data, key) -> (state, metrics)`` running ``num_steps`` meta-steps.

  ``data`` is ``family.data`` (an argument, so a data set is not compiled into the program).

  The steps run in one ``lax.scan`` inside one ``jit`` call (state buffers donated), so the
  Python loop only sees every ``num_steps``-th step. Step ``s`` samples its tasks with
  ``fold_in(key, s)``: the same seed gives the same run, and a run resumed from a checkpoint
  continues exactly as if it had never stopped. ``metrics`` holds per-step ``loss`` and aux
  values, shape ``[num_steps]``; entries that the learner carries (``aux['carry']``, see
  ``core.MetaLearner``) replace their meta-parameters after the update. With a ``mesh``
  (see ``meta_gradient``) the state and data are replicated over its devices and the tasks
  split between them.
  """
  if task_map not in TASK_MAPS:
    raise UserError(f'task_map must be one of {TASK_MAPS}, got {task_map!r}.')

  def one_step(state, data, key):
    step_key = jax.random.fold_in(key, state['step'])
    sample_key, loss_key = jax.random.split(step_key)
    tasks = family.sample(data, meta_batch, key=sample_key)
    loss, aux, grads = meta_gradient(
        learner, state['params'], tasks, task_map=task_map, mesh=mesh, key=loss_key)
    carried = aux.pop('carry', {})
    updates, opt_state = optimizer.update(grads, state['opt_state'], state['params'])
    params = optax.apply_updates(state['params'], updates)
    if carried:
      unknown = sorted(set(carried) - set(params if isinstance(params, dict) else ()))
      if unknown:
        raise UserError(f"meta_loss's aux['carry'] names {unknown}, which are not top-level "
                        'entries of the meta-parameters (a dict) that init returns.')
      # Meta-parameters are differentiated, so a carried entry is floating point (a step
      # count is stored as a float); its task mean keeps the entry's dtype.
      params = {**params, **jax.tree.map(lambda new, old: new.astype(old.dtype), carried,
                                         {k: params[k] for k in carried})}
    new_state = {'params': params, 'opt_state': opt_state, 'step': state['step'] + 1}
    return new_state, {'loss': loss, **aux}

  def train(state, data, key):
    return jax.lax.scan(lambda s, _: one_step(s, data, key), state, None, length=num_steps)

  jitted = jax.jit(train, donate_argnums=0)
  if mesh is None:
    return jitted
  replicated = jax.sharding.NamedSharding(mesh, jax.P())

  def sharded_train(state, data, key):
    return jitted(*jax.device_put((state, data), replicated), key)

  return sharded_train
