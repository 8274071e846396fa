"""The curvature a head-only inner loop (ANIL) meets: the support loss's Hessian in the head.

Command:  python benchmarks/head_curvature.py WORKDIR STEP [STEP ...] [--tasks 200]
          e.g. python benchmarks/head_curvature.py runs/stocks_days/stocks_anil 1000 2000 20000
Cost:     seconds per checkpoint for an MLP head (one Hessian of the head's parameters per task).

For each kept checkpoint STEP of a `metaft run` workdir, draws `--tasks` meta-training tasks
(seed 7) and prints the largest eigenvalue of the Hessian of the support loss with respect to
the last layer's parameters (`masks.last_layer`, ANIL's default head), at the meta-learned
initialisation: its median, 90th percentile and maximum over the tasks, and the inner rate times
the maximum. Gradient descent on a quadratic diverges where rate x eigenvalue > 2.
"""

import argparse
import functools
import json
import pathlib

import jax
import jax.flatten_util
import jax.numpy as jnp
import ml_collections
import numpy as np

from metaft import finetune, runner
from metaft.learners import masks
from metaft.learners.maml import support_loss


def largest_eigenvalues(model, loss, params, tasks) -> np.ndarray:
  """Per task, the largest eigenvalue of the support loss's Hessian in the last layer."""
  head = masks.last_layer(params)
  flat, unravel = jax.flatten_util.ravel_pytree(params[head])

  def one(task):
    task_loss = functools.partial(support_loss, model, loss, split=task.support)
    hessian = jax.hessian(lambda v: task_loss({**params, head: unravel(v)}))(flat)
    return jnp.linalg.eigvalsh(hessian)[-1]
  return np.asarray(jax.jit(jax.vmap(one))(tasks))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('workdir', type=pathlib.Path)
  parser.add_argument('steps', type=int, nargs='+')
  parser.add_argument('--tasks', type=int, default=200)
  args = parser.parse_args()
  config = ml_collections.ConfigDict(json.loads((args.workdir / 'config.json').read_text()))
  _, family, _, _ = runner.build(config)
  tasks = family.draw(args.tasks, key=jax.random.key(7))
  rate = config.learner.get('inner_lr')
  print(f'| {args.workdir} step | median | 90% | max | inner rate x max |\n|---|---|---|---|---|')
  for step in args.steps:
    model, params = finetune.load_model(args.workdir, step=step)
    lam = largest_eigenvalues(model, family.loss, params, tasks)
    scaled = f'{rate * lam.max():.2f}' if rate else '-'
    print(f'| {step} | {np.median(lam):.1f} | {np.percentile(lam, 90):.1f} | {lam.max():.1f} | '
          f'{scaled} |')


if __name__ == '__main__':
  main()
