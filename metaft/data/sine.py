"""Sine-wave regression (Finn et al. 2017, section 5.1), sampled on the device."""

import jax
import jax.numpy as jnp

from metaft import core, losses
from metaft.errors import UserError


def sine(
    *,
    shots: int = 10,
    query: int = 10,
    amplitude: tuple[float, float] = (0.1, 5.0),
    phase: tuple[float, float] = (0.0, jnp.pi),
    x_range: tuple[float, float] = (-5.0, 5.0),
    split: str = 'train',
) -> core.TaskFamily:
  """Tasks ``y = A sin(x - phi)``, ``A ~ U[amplitude]``, ``phi ~ U[phase]``, ``x ~ U[x_range]``.

  Args:
    shots: K, support points per task.
    query: query points per task.
    amplitude, phase, x_range: the ranges of the uniform distributions.
    split: ``'train'`` or ``'test'``; both draw from the same distribution (the runner uses
      separate key streams), accepted so every task family has the same signature.

  Returns:
    A ``TaskFamily`` whose tasks hold ``x, y`` of shape ``[K, 1]`` and ``[query, 1]``.
  """
  if shots < 1 or query < 1:
    raise UserError(f'sine needs shots >= 1 and query >= 1, got shots={shots}, query={query}.')
  if split not in ('train', 'test'):
    raise UserError(f"split must be 'train' or 'test', got {split!r}.")
  lo_a, hi_a = amplitude
  lo_p, hi_p = phase
  lo_x, hi_x = x_range

  def sample(data, num_tasks, *, key):
    del data  # nothing to draw from: tasks are made from the key
    k_amp, k_phase, k_x = jax.random.split(key, 3)
    amp_T = jax.random.uniform(k_amp, (num_tasks, 1, 1), minval=lo_a, maxval=hi_a)
    phase_T = jax.random.uniform(k_phase, (num_tasks, 1, 1), minval=lo_p, maxval=hi_p)
    x_TxNx1 = jax.random.uniform(k_x, (num_tasks, shots + query, 1), minval=lo_x, maxval=hi_x)
    y_TxNx1 = amp_T * jnp.sin(x_TxNx1 - phase_T)
    return core.Task(
        core.Split(x_TxNx1[:, :shots], y_TxNx1[:, :shots]),
        core.Split(x_TxNx1[:, shots:], y_TxNx1[:, shots:]))

  info = {'dataset': 'sine', 'ways': None, 'shots': shots}
  return core.TaskFamily(sample, losses.mse, losses.regression_metrics, 'mse', 1, info)
