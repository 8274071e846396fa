"""Conv-4 convolution formulations under second-order MAML: meta-steps/s, compile s, GFLOP/s.

Omniglot-shaped random tasks (5-way 1-shot, 15 queries per class, 28x28x1), meta-batch 32,
one inner SGD step, the exact (second-order) meta-gradient of ``metaft.outer.meta_gradient``
under one ``jit``, for the strided (Omniglot) and max-pool (mini-ImageNet-style) Conv-4 of
``metaft.models.conv``, each convolution formulation and each task map.

GFLOP per meta-step is XLA's cost analysis of one task's meta-gradient with the 'im2col'
formulation (pure matmuls, so every multiply-add is counted) times the meta-batch; the same
count serves every row of a model, so GFLOP/s ranks the rows as their speed does. (XLA counts
a ``while`` loop's body once, so the cost analysis of the whole 'map' step would count one
task.) "% peak" divides by a large float32 ``jnp.dot`` timed in the same run, the usable
matmul peak of the machine at that moment; "temp GB" is XLA's temporary buffer size.

Command (each configuration compiles for 5-20 s; the slow ones are skipped by default)::

  python benchmarks/conv_formulations.py --quick            # about 3 minutes on 2 cores
  python benchmarks/conv_formulations.py --models strided --impls stack,mixed --task-maps map
  python benchmarks/conv_formulations.py --skip '' --json results.json   # every row

Prints a Markdown table; ``--json PATH`` also writes the rows.
"""

import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp

from metaft import core, losses, outer
from metaft.learners.maml import maml
from metaft.models.conv import conv4

WAYS, SHOTS, QUERIES, SIZE = 5, 1, 15, 28
# Rows skipped by default, as model/task_map/impl patterns ('*' matches anything): XLA's
# convolutions under second-order MAML take 10 s to minutes per meta-step on the CPU
# (grouped under vmap, weight-gradient convolutions under map), and vmap over 32 tasks of
# the full-resolution max-pool model needs several GB.
DEFAULT_SKIP = 'pool/*/xla,*/vmap/xla,pool/vmap/*,*/vmap/shift,*/vmap/mixed'


def matmul_peak(n: int = 2048, repeats: int = 5) -> float:
  """Float32 GFLOP/s of an n x n x n ``jnp.dot`` (median of ``repeats``)."""
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(jnp.dot)
  f(a, a).block_until_ready()
  times = []
  for _ in range(repeats):
    t = time.perf_counter()
    f(a, a).block_until_ready()
    times.append(time.perf_counter() - t)
  return 2 * n**3 / statistics.median(times) / 1e9


def random_tasks(meta_batch: int, *, key) -> core.Task:
  """Random Omniglot-shaped tasks (the timing does not depend on the pixel values)."""
  k_support, k_query = jax.random.split(key)
  def split(k, n):
    return core.Split(jax.random.uniform(k, (meta_batch, n, SIZE, SIZE, 1)),
                      jnp.tile(jnp.arange(n) % WAYS, (meta_batch, 1)))
  return core.Task(split(k_support, WAYS * SHOTS), split(k_query, WAYS * QUERIES))


def flops(compiled) -> float:
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # a list of one dict per computation in older JAX
    cost = cost[0]
  return float(cost.get('flops', float('nan')))


def make_learner(pool, impl):
  model = conv4(num_outputs=WAYS, pool=pool, conv_impl=impl)
  return maml(model, losses.cross_entropy, inner_lr=0.4, inner_steps=1)


def task_gflop(pool, tasks, *, key) -> float:
  """XLA's flop count of one task's second-order meta-gradient, all-matmul formulation."""
  learner = make_learner(pool, 'im2col')
  params = learner.init(key, tasks.support.x[0])
  task = jax.tree.map(lambda a: a[0], tasks)
  grad = jax.value_and_grad(lambda p, t: learner.meta_loss(p, t)[0])
  return flops(jax.jit(grad).lower(params, task).compile()) / 1e9


def run_one(pool, impl, task_map, tasks, repeats, *, key):
  learner = make_learner(pool, impl)
  params = learner.init(key, tasks.support.x[0])

  def step(p, t, k):
    return outer.meta_gradient(learner, p, t, task_map=task_map, key=k)

  t0 = time.perf_counter()
  compiled = jax.jit(step).lower(params, tasks, key).compile()
  compile_s = time.perf_counter() - t0
  mem = compiled.memory_analysis()
  temp_gb = getattr(mem, 'temp_size_in_bytes', float('nan')) / 1e9
  t0 = time.perf_counter()
  jax.block_until_ready(compiled(params, tasks, key))
  times = [time.perf_counter() - t0]
  if times[0] < 5.0:  # the first call pays for allocation; slow rows keep it as their time
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(compiled(params, tasks, key))
      times.append(time.perf_counter() - t0)
  return {'model': 'pool' if pool else 'strided', 'impl': impl, 'task_map': task_map,
          'seconds': statistics.median(times), 'compile_s': compile_s, 'temp_gb': temp_gb,
          'xla_gflop': flops(compiled) / 1e9}


def skipped(row, patterns):
  return any(all(p in ('*', v) for p, v in zip(pattern.split('/'), row)) for pattern in patterns)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true', help='2 timed calls per row, not 5')
  parser.add_argument('--models', default='strided,pool')
  parser.add_argument('--impls', default='xla,im2col,stack,shift,mixed')
  parser.add_argument('--task-maps', default='map,vmap')
  parser.add_argument('--skip', default=DEFAULT_SKIP,
                      help=f'comma list of model/task_map/impl patterns (default {DEFAULT_SKIP})')
  parser.add_argument('--meta-batch', type=int, default=32)
  parser.add_argument('--json', default=None, help='also write the rows to this path')
  args = parser.parse_args()
  repeats = 2 if args.quick else 5
  patterns = [p for p in args.skip.split(',') if p]

  key = jax.random.key(0)
  tasks = random_tasks(args.meta_batch, key=key)
  peak = matmul_peak(repeats=repeats)
  print(f'JAX {jax.__version__}, {jax.default_backend()}, {jax.devices()[0].device_kind}: '
        f'float32 matmul peak {peak:.0f} GFLOP/s now. Meta-batch {args.meta_batch} of '
        f'{WAYS}-way {SHOTS}-shot tasks, {WAYS * QUERIES} queries, second-order MAML, '
        f'1 inner step.\n')
  print('| model | conv impl | task map | meta-steps/s | compile s | GFLOP/step | GFLOP/s '
        '| % peak | temp GB |')
  print('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  rows = []
  for model in args.models.split(','):
    gflop = task_gflop(model == 'pool', tasks, key=key) * args.meta_batch
    for task_map in args.task_maps.split(','):
      for impl in args.impls.split(','):
        if skipped((model, task_map, impl), patterns):
          continue
        row = run_one(model == 'pool', impl, task_map, tasks, repeats, key=key)
        row.update(gflop=gflop, steps_per_s=1 / row['seconds'],
                   gflop_per_s=gflop / row['seconds'],
                   pct_peak=100 * gflop / row['seconds'] / peak)
        rows.append(row)
        print(f"| {model} | {impl} | {task_map} | {row['steps_per_s']:.2f} "
              f"| {row['compile_s']:.1f} | {gflop:.1f} | {row['gflop_per_s']:.0f} "
              f"| {row['pct_peak']:.0f} | {row['temp_gb']:.2f} |", flush=True)
  peak_after = matmul_peak(repeats=repeats)
  print(f'\nMatmul peak after the rows: {peak_after:.0f} GFLOP/s (before: {peak:.0f}); '
        'on a shared machine the two differ.')
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'jax': jax.__version__, 'backend': jax.default_backend(),
                 'peak_gflop_per_s': [peak, peak_after], 'meta_batch': args.meta_batch,
                 'rows': rows}, f, indent=1)


if __name__ == '__main__':
  main()
