"""Head-only adaptation with the body's features computed once, against a forward pass per step.

Command:  python benchmarks/head_only_speed.py [--out benchmarks/results] [--repeats 5]
Cost:     about 2 minutes on 2 CPU cores (Omniglot must be found, see README "Data").
Writes:   OUT/head_only_speed.json and prints a Markdown table.

When only the head adapts (ANIL's inner loop, head-only fine-tuning), a model that declares
its features (``core.Model.features``: conv4 does) lets ``finetune.make_adapt`` run the body
once per task and the inner steps on the features alone. Both sides run the same function
(tests/test_finetune.py checks values and meta-gradients); "per step" is the same model with
``features=None``. Rows, on Omniglot with MAML's strided Conv-4 (64 filters), timed side by
side in one process (median of ``--repeats`` calls after one compiling call):
  - ANIL meta-gradient, 20-way 1-shot, meta-batch 16, 5 inner SGD steps, second order;
  - head-only fine-tuning of a 5-way 5-shot task: 100 Adam steps, then the query predictions.
Measured: 3.2x on the ANIL row; 1.0x on the fine-tuning row, where nothing differentiates
through the inner loop and XLA already hoists the loop-invariant forward pass of the frozen
body out of the loop. The second-order backward pass of ANIL's meta-gradient keeps it in.
"""

import argparse
import json
import pathlib
import platform
import time

import jax
import numpy as np
import optax

from metaft import data, finetune, learners, models, outer


def _median_seconds(fn, repeats):
  jax.block_until_ready(fn())  # compile
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def anil_row(model, repeats):
  family = data.omniglot(ways=20, shots=1, query=1)
  tasks = family.draw(16, key=jax.random.key(0))
  learner = learners.anil(model, family.loss, inner_lr=0.1, inner_steps=5)
  params = learner.init(jax.random.key(1), tasks.support.x[0])
  fn = jax.jit(lambda p, t, k: outer.meta_gradient(learner, p, t, key=k, task_map='map'))
  return _median_seconds(lambda: fn(params, tasks, jax.random.key(2)), repeats)


def finetune_row(model, repeats):
  family = data.omniglot(ways=5, shots=5, query=15, split='test')
  task = jax.tree.map(lambda a: a[0], family.draw(1, key=jax.random.key(0)))
  params = model.init(jax.random.key(1), task.support.x)
  adapt = finetune.make_adapt(model, family.loss, optax.adam(1e-2), 100, trainable='head')
  fn = jax.jit(lambda p, t: model.apply(adapt(p, t.support), t.query.x))
  return _median_seconds(lambda: fn(params, task), repeats)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='benchmarks/results')
  parser.add_argument('--repeats', type=int, default=5)
  args = parser.parse_args()
  rows = []
  for name, row, ways in [('ANIL meta-gradient, 20w1s, 16 tasks, 5 steps', anil_row, 20),
                          ('head-only fine-tuning, 5w5s, 100 Adam steps', finetune_row, 5)]:
    fast = models.conv4(num_outputs=ways)
    slow = fast._replace(features=None)
    per_step, once = row(slow, args.repeats), row(fast, args.repeats)
    rows.append({'row': name, 'per_step_s': per_step, 'features_once_s': once,
                 'speedup': per_step / once})
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  meta = {'jax': jax.__version__, 'backend': jax.default_backend(),
          'machine': platform.machine(), 'repeats': args.repeats}
  (out / 'head_only_speed.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2))
  print('| row | forward pass per step (s) | features once (s) | speed-up |\n|---|---|---|---|')
  for r in rows:
    print(f"| {r['row']} | {r['per_step_s']:.3f} | {r['features_once_s']:.3f} "
          f"| {r['speedup']:.1f}x |")


if __name__ == '__main__':
  main()
