"""Sine MAML: meta-iterations per second (vmap vs sequential map) and compile time against
the number of inner steps (lax.scan inner loop vs a Python-unrolled one, side by side).

Command:  python benchmarks/compile_and_speed.py [--repeats 3] [--out benchmarks/results]
Cost:     about a minute on 2 CPU cores.
Writes:   OUT/compile_and_speed.json and prints a Markdown table.
"""

import argparse
import functools
import json
import pathlib
import platform
import statistics
import time

import jax
import optax

from metaft import data, learners, models, outer


def unrolled(learner_fn, model, loss, *, inner_steps, **kwargs):
  """The same learner with its inner loop as a Python loop (what ``lax.scan`` avoids)."""
  learner = learner_fn(model, loss, inner_steps=inner_steps, **kwargs)
  sgd = optax.sgd(kwargs.get('inner_lr', 0.01))

  def adapt(params, support, *, steps=None, key=None):
    opt_state = sgd.init(params)
    for _ in range(inner_steps if steps is None else steps):
      grads = jax.grad(lambda p: loss(model.apply(p, support.x), support.y))(params)
      updates, opt_state = sgd.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
    return params

  def meta_loss(params, task, *, key=None):
    adapted = adapt(params, task.support)
    return loss(model.apply(adapted, task.query.x), task.query.y), {}

  return learner._replace(adapt=adapt, meta_loss=meta_loss)


def setup(inner_steps, task_map, *, num_steps, loop='scan'):
  family = data.sine(shots=10, query=10)
  model = models.mlp(num_outputs=1)
  make = learners.maml if loop == 'scan' else functools.partial(unrolled, learners.maml)
  learner = make(model, family.loss, inner_lr=0.01, inner_steps=inner_steps)
  optimizer = optax.adam(1e-3)
  params = learner.init(jax.random.key(0), family.draw(1, key=jax.random.key(0)).support.x[0])
  fn = outer.make_train_fn(learner, optimizer, family, meta_batch=25,
                           num_steps=num_steps, task_map=task_map)
  return fn, outer.init_state(params, optimizer), family.data


def compile_seconds(inner_steps, loop, task_map='vmap'):
  fn, state, data = setup(inner_steps, task_map, num_steps=1, loop=loop)
  t0 = time.perf_counter()
  fn.lower(state, data, jax.random.key(1)).compile()
  return time.perf_counter() - t0


def iterations_per_second(task_map, *, inner_steps=1, chunk=2000, repeats=3):
  fn, state, data = setup(inner_steps, task_map, num_steps=chunk)
  state, m = fn(state, data, jax.random.key(1))  # compile and warm up
  jax.block_until_ready(m)
  rates = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    state, m = fn(state, data, jax.random.key(1))
    jax.block_until_ready(m)
    rates.append(chunk / (time.perf_counter() - t0))
  return statistics.median(rates)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--out', default='benchmarks/results')
  args = parser.parse_args()

  speed = {m: iterations_per_second(m, repeats=args.repeats) for m in outer.TASK_MAPS}
  compile_rows = []
  for steps in (1, 5, 10, 50):
    times = {loop: statistics.median(compile_seconds(steps, loop) for _ in range(args.repeats))
             for loop in ('scan', 'unrolled')}
    compile_rows.append({'inner_steps': steps, **times})
  base = compile_rows[0]
  print(f'Sine MAML (K=10, meta-batch 25, 1 inner step), {jax.devices()[0].platform}, '
        f'{platform.processor() or platform.machine()}, JAX {jax.__version__}\n')
  print('| task map | meta-iterations/s |\n|---|---|')
  for m, rate in speed.items():
    print(f'| {m} | {rate:,.0f} |')
  print('\n| inner steps | compile s (lax.scan) | vs 1 step | compile s (Python loop) '
        '| vs 1 step |\n|---|---|---|---|---|')
  for r in compile_rows:
    print(f"| {r['inner_steps']} | {r['scan']:.2f} | {r['scan'] / base['scan']:.2f}x "
          f"| {r['unrolled']:.2f} | {r['unrolled'] / base['unrolled']:.2f}x |")
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  (out / 'compile_and_speed.json').write_text(json.dumps({
      'iterations_per_second': speed, 'compile_seconds': compile_rows,
      'jax': jax.__version__, 'backend': jax.default_backend()}, indent=2))


if __name__ == '__main__':
  main()
