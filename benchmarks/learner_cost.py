"""What each Omniglot table cell costs to train: the experiments' own meta-steps, side by side.

Command:  python benchmarks/learner_cost.py [SPEC ...] [--steps 20] [--repeats 3]
          [--out benchmarks/results]
Cost:     about 5 minutes on 2 CPU cores for the default specs (Omniglot must be found).
Writes:   OUT/learner_cost.json and prints a Markdown table.

For each experiment spec (default: the 5-way cells of every meta-learner, and iMAML 20w1s),
builds the experiment exactly as ``metaft run`` does (learner, model, task family, outer
optimizer, meta-batch) and times its jitted training function over ``--steps`` meta-steps:
the median of ``--repeats`` calls after one compiling call. Prints meta-steps per second, the
ratio to the first spec, and the hours the config's ``train_steps`` would take at that rate.
"""

import argparse
import json
import os
import pathlib
import platform
import time

import jax
import numpy as np

from metaft import config as config_lib
from metaft import outer, runner

DEFAULT_SPECS = ('maml_omniglot:5w1s', 'fomaml_omniglot:5w1s', 'metasgd_omniglot:5w1s',
                 'imaml_omniglot:5w1s', 'anil_omniglot:5w1s', 'reptile_omniglot',
                 'protonets_omniglot', 'imaml_omniglot:20w1s')


def seconds_per_step(spec: str, steps: int, repeats: int) -> tuple[float, int]:
  """Median seconds per meta-step of ``spec``'s training, and its config's train_steps."""
  _, config = config_lib.load_config(spec)
  learner, family, _, optimizer = runner.build(config)
  example = family.draw(1, key=jax.random.key(0)).support.x[0]
  state = outer.init_state(learner.init(jax.random.key(1), example), optimizer)
  train = outer.make_train_fn(learner, optimizer, family, meta_batch=config.meta_batch,
                              num_steps=steps, task_map=config.task_map)
  state, _ = jax.block_until_ready(train(state, family.data, jax.random.key(2)))  # compile
  times = []
  for i in range(repeats):
    start = time.perf_counter()
    state, _ = jax.block_until_ready(train(state, family.data, jax.random.key(3 + i)))
    times.append(time.perf_counter() - start)
  return float(np.median(times)) / steps, config.train_steps


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('specs', nargs='*', default=DEFAULT_SPECS)
  parser.add_argument('--steps', type=int, default=20)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('benchmarks/results'))
  args = parser.parse_args()
  rows = []
  for spec in args.specs:
    seconds, train_steps = seconds_per_step(spec, args.steps, args.repeats)
    rows.append({'spec': spec, 'seconds_per_step': seconds, 'train_steps': train_steps})
    print(f'{spec}: {1 / seconds:.2f} meta-steps/s', flush=True)
  base = rows[0]['seconds_per_step']
  print(f'\n| experiment | meta-steps/s | time per step vs {rows[0]["spec"]} | '
        'train_steps | hours for train_steps |\n|---|---|---|---|---|')
  for r in rows:
    hours = r['seconds_per_step'] * r['train_steps'] / 3600
    print(f"| {r['spec']} | {1 / r['seconds_per_step']:.2f} | "
          f"{r['seconds_per_step'] / base:.2f}x | {r['train_steps']:,} | {hours:.1f} |")
  args.out.mkdir(parents=True, exist_ok=True)
  (args.out / 'learner_cost.json').write_text(json.dumps(
      {'machine': platform.processor() or platform.machine(), 'cpus': os.cpu_count(),
       'backend': jax.default_backend(), 'steps': args.steps, 'repeats': args.repeats,
       'rows': rows}, indent=2))


if __name__ == '__main__':
  main()
