"""The `stocks` experiment's table: trained runs beside forecasts without a network, paired.

    python benchmarks/stocks_table.py [WORKDIR[@STEP] ...] [--num-tasks 1000]

Draws the very tasks `metaft run stocks` scores (seed 0, batches of 500) and prints the query
MSE (percent squared, mean and 95% interval) of each run in WORKDIR (a `metaft run` workdir,
e.g. runs/stocks/stocks_maml, adapted as in its config; `@STEP` scores its kept checkpoint at
that step, e.g. the one model selection chose; a run of other tasks, e.g. another target, is
refused) and of: zero (for signed returns, the random walk's forecast), the last day's value
(persistence), the mean of the 10 input days, the support targets' mean (the ticker's level over
its 20 support days), and a ridge-regularised linear autoregression on the 10 lags fitted to
each task's support set (its penalty, 1000, is the best of 1, 10, 100, 1000 and 10^4 on these
very tasks: an optimistic baseline; at 1 it scores 10.4, at 100 2.0). A few tasks with a day's
move of 10% or more dominate the intervals, so the last column gives each forecast's difference
to the support targets' mean task by task, with the interval of that paired mean.
"""

import argparse
import json
import pathlib

import jax
import jax.numpy as jnp
import ml_collections

from metaft import finetune, runner
from metaft.data.finance import TARGETS, stocks
from metaft.evaluate import evaluate, mean_ci95

BATCH_SIZE = 500  # the experiment's eval.batch_size: the same key then draws the same tasks


def ridge_forecast(support, query_x, l2=1000.0):
  """Least squares ``y ~ w.x + b`` on the support set with ``l2 * |w|^2``, applied to query_x."""
  x_SxL, y_S = support.x, support.y[:, 0]
  mean_x_1xL, mean_y = x_SxL.mean(0, keepdims=True), y_S.mean()
  xc_SxL = x_SxL - mean_x_1xL
  gram_LxL = xc_SxL.T @ xc_SxL + l2 * jnp.eye(x_SxL.shape[1])
  w_L = jnp.linalg.solve(gram_LxL, xc_SxL.T @ (y_S - mean_y))
  return (query_x - mean_x_1xL) @ w_L + mean_y


FORECASTS = {
    'zero': lambda task: jnp.zeros(task.query.x.shape[:1]),
    'last day': lambda task: task.query.x[:, -1],
    'mean of the 10 input days': lambda task: task.query.x.mean(-1),
    "support targets' mean": lambda task: jnp.full(task.query.x.shape[:1], task.support.y.mean()),
    'ridge AR(10) fit on the support set': lambda task: ridge_forecast(task.support, task.query.x),
}
REFERENCE = "support targets' mean"


def run_rows(spec: str, label: str, num_tasks: int, key, tasks) -> dict:
  """Per-task query MSE of a trained run (``WORKDIR`` or ``WORKDIR@STEP``), for each of its
  evaluation step counts; refused unless the run's test tasks are the table's ``tasks``."""
  path, _, step = spec.partition('@')
  workdir = pathlib.Path(path)
  config = ml_collections.ConfigDict(json.loads((workdir / 'config.json').read_text()))
  learner, _, family, _ = runner.build(config)
  n = min(BATCH_SIZE, num_tasks)
  own = family.draw(BATCH_SIZE, key=jax.random.fold_in(key, 0))
  if not all(a.shape[1:] == b.shape[1:] and bool(jnp.array_equal(a[:n], b[:n]))
             for a, b in zip(jax.tree.leaves(own), jax.tree.leaves(tasks))):
    raise SystemExit(f'stocks_table.py: {path} forecasts other tasks than the table, which '
                     'draws the default lags, shots and query of --target: its config.task is '
                     f'{config.task.to_dict()}.')
  _, params = finetune.load_model(workdir, step=int(step) if step else None)
  return {f'{label}, {steps} steps': evaluate(
              learner, family, params, num_tasks=num_tasks, steps=steps,
              batch_size=BATCH_SIZE, key=key)['mse'] for steps in config.eval.adapt_steps}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('workdirs', nargs='*', help='runs to score: WORKDIR or WORKDIR@STEP')
  parser.add_argument('--target', default='volatility', choices=TARGETS)
  parser.add_argument('--num-tasks', type=int, default=1000)
  args = parser.parse_args()
  labels = []
  for spec in args.workdirs:
    path, at, step = spec.partition('@')
    if at and not step.isdigit():
      parser.error(f'{spec!r}: the step after @ must be a whole number, e.g. {path}@2000')
    if not (pathlib.Path(path) / 'config.json').is_file():
      parser.error(f'{path} is not the workdir of a `metaft run` (it has no config.json)')
    label = json.loads((pathlib.Path(path) / 'config.json').read_text())['label']
    labels.append(f'{label} @ step {step}' if step else label)
  if len(set(args.workdirs)) < len(args.workdirs):
    parser.error('a run is named twice')
  # Runs of one label (e.g. maml in two workdirs) are told apart by their paths.
  labels = [s if labels.count(l) > 1 else l for s, l in zip(args.workdirs, labels)]
  family = stocks(split='test', target=args.target)
  key = jax.random.fold_in(jax.random.key(0), 1)  # the runner's evaluation key for seed 0
  tasks = [family.draw(BATCH_SIZE, key=jax.random.fold_in(key, i))
           for i in range(-(-args.num_tasks // BATCH_SIZE))]
  tasks = jax.tree.map(lambda *xs: jnp.concatenate(xs)[:args.num_tasks], *tasks)
  per_task = {}
  for spec, label in zip(args.workdirs, labels):
    per_task.update(run_rows(spec, label, args.num_tasks, key, tasks))
  for name, forecast in FORECASTS.items():
    per_task[name] = jax.vmap(lambda t: jnp.mean((forecast(t) - t.query.y[:, 0]) ** 2))(tasks)
  print(f'| forecast ({args.target}) | query MSE ± 95% CI | minus {REFERENCE}, paired | tasks |'
        '\n|---|---|---|---|')
  for name, mse_T in per_task.items():
    mean, ci = mean_ci95(mse_T)
    diff, diff_ci = mean_ci95(mse_T - per_task[REFERENCE])
    print(f'| {name} | {mean:.3f} ± {ci:.3f} | {diff:+.3f} ± {diff_ci:.3f} | {args.num_tasks} |')


if __name__ == '__main__':
  main()
