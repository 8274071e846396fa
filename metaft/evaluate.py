"""Meta-test evaluation: ``adapt`` on each test task's support set, scored on its query set."""

import math

import jax
import jax.numpy as jnp
import numpy as np

from metaft import core


def mean_ci95(values) -> tuple[float, float]:
  """Mean and the half-width of its 95% confidence interval, ``1.96 * std / sqrt(n)``.

  ``std`` is the sample standard deviation (``ddof=1``).
  """
  values = np.asarray(values, np.float64)
  n = values.size
  std = values.std(ddof=1) if n > 1 else 0.0
  return float(values.mean()), float(1.96 * std / math.sqrt(n))


def make_eval_fn(learner: core.MetaLearner, family: core.TaskFamily, *, steps: int,
                 batch_size: int):
  """Returns a jitted ``fn(meta_params, data, key) -> dict of [batch_size] per-task metrics``."""

  def one_task(meta_params, task):
    adapted = learner.adapt(meta_params, task.support, steps=steps)
    return family.metrics(learner.predict(adapted, task.query.x), task.query.y)

  def evaluate(meta_params, data, key):
    tasks = family.sample(data, batch_size, key=key)
    return jax.lax.map(lambda t: one_task(meta_params, t), tasks)

  return jax.jit(evaluate)


def evaluate(
    learner: core.MetaLearner,
    family: core.TaskFamily,
    meta_params: core.PyTree,
    *,
    num_tasks: int,
    steps: int,
    batch_size: int = 100,
    key: jax.Array,
    eval_fn=None,
) -> dict[str, np.ndarray]:
  """Per-task metrics on ``num_tasks`` tasks of ``family`` after ``steps`` adaptation steps.

  Tasks are sampled in batches of ``batch_size`` from ``fold_in(key, batch_index)``, so the
  same key gives the same tasks whatever ``steps`` is: rows for different step counts are
  paired comparisons. ``eval_fn``, ``make_eval_fn(learner, family, steps=steps,
  batch_size=min(batch_size, num_tasks))``, reuses one compiled program across calls (e.g.
  scoring several checkpoints); by default each call builds its own.

  Returns:
    A dict of arrays of shape ``[num_tasks]``, one per metric of the family.
  """
  batch_size = min(batch_size, num_tasks)
  fn = eval_fn or make_eval_fn(learner, family, steps=steps, batch_size=batch_size)
  num_batches = -(-num_tasks // batch_size)
  chunks = [fn(meta_params, family.data, jax.random.fold_in(key, i))
            for i in range(num_batches)]
  per_task = jax.tree.map(lambda *xs: jnp.concatenate(xs)[:num_tasks], *chunks)
  return {k: np.asarray(v) for k, v in per_task.items()}
