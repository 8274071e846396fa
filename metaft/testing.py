"""Helpers for testing learners and task families: a quadratic task family and a linear model.

With a linear model and the squared error, every task's loss is quadratic in the parameters,
so meta-gradients are smooth and finite differences in float64 are accurate.
"""

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np

from metaft import core, losses


def linear_model(*, num_outputs: int = 1) -> core.Model:
  """``x @ w + b`` with small random ``w``."""

  def init(key, x):
    w = 0.1 * jax.random.normal(key, (x.shape[-1], num_outputs), x.dtype)
    return {'w': w, 'b': jnp.zeros((num_outputs,), x.dtype)}

  def apply(params, x):
    return x @ params['w'] + params['b'][None, :]

  return core.Model(init, apply)


def quadratic_family(*, dim: int = 3, shots: int = 6, query: int = 6,
                     split: str = 'train') -> core.TaskFamily:
  """Linear-regression tasks ``y = x @ w_task + noise-free``, ``w_task ~ N(1, 1)``."""
  del split

  def sample(data, num_tasks, *, key):
    del data
    k_w, k_x = jax.random.split(key)
    dtype = jnp.zeros(()).dtype  # float64 under enable_x64
    w_TxD = 1.0 + jax.random.normal(k_w, (num_tasks, dim, 1), dtype)
    x_TxNxD = jax.random.normal(k_x, (num_tasks, shots + query, dim), dtype)
    y_TxN = x_TxNxD @ w_TxD
    return core.Task(core.Split(x_TxNxD[:, :shots], y_TxN[:, :shots]),
                     core.Split(x_TxNxD[:, shots:], y_TxN[:, shots:]))

  info = {'dataset': 'quadratic', 'ways': None, 'shots': shots}
  return core.TaskFamily(sample, losses.mse, losses.regression_metrics, 'mse', 1, info)


def finite_difference_grad(fn, params, *, eps: float = 1e-6):
  """Central-difference gradient of scalar ``fn`` at the pytree ``params`` (use float64)."""
  flat, unravel = jax.flatten_util.ravel_pytree(params)
  flat = np.asarray(flat, np.float64)
  grad = np.zeros_like(flat)
  for i in range(flat.size):
    step = np.zeros_like(flat)
    step[i] = eps
    grad[i] = (float(fn(unravel(flat + step))) - float(fn(unravel(flat - step)))) / (2 * eps)
  return unravel(grad)
