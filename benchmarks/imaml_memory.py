"""Compiled memory of one meta-gradient: MAML against iMAML at 5 and 50 inner steps.

Command:  python benchmarks/imaml_memory.py [--out benchmarks/results]
Cost:     compilation only, about 15 s on 2 CPU cores.
Writes:   OUT/imaml_memory.json and prints a Markdown table.

The numbers are XLA's own accounting for the compiled program (``memory_analysis()``):
``temp`` is the scratch memory beyond arguments and outputs, i.e. the peak working memory of
the meta-gradient. MAML keeps every inner step's activations for its backward pass; iMAML's
backward pass is a conjugate-gradient solve at the adapted parameters, so its memory does not
depend on the number of inner steps. Setting: sine regression, K = 10, 10 query points,
MLP 1-40-40-1, meta-batch 25 (vmap), SGD inner loop; iMAML with lam = 1 and 5 CG steps.
"""

import argparse
import json
import pathlib
import platform

import jax

from metaft import data, learners, models, outer

STEPS = (5, 50)


def temp_bytes(name: str, inner_steps: int, *, meta_batch: int = 25) -> dict:
  family = data.sine(shots=10, query=10)
  learner = getattr(learners, name)(models.mlp(num_outputs=1), family.loss,
                                    inner_lr=0.01, inner_steps=inner_steps)
  tasks = family.draw(meta_batch, key=jax.random.key(0))
  params = learner.init(jax.random.key(1), tasks.support.x[0])
  fn = jax.jit(lambda p, t, k: outer.meta_gradient(learner, p, t, key=k))
  stats = fn.lower(params, tasks, jax.random.key(2)).compile().memory_analysis()
  return {'learner': name, 'inner_steps': inner_steps, 'temp_bytes': stats.temp_size_in_bytes,
          'argument_bytes': stats.argument_size_in_bytes,
          'output_bytes': stats.output_size_in_bytes}


def markdown(rows: list[dict]) -> str:
  head = '| learner | inner steps | temp memory (KiB) | arguments (KiB) |\n|---|---|---|---|\n'
  return head + ''.join(
      f"| {r['learner']} | {r['inner_steps']} | {r['temp_bytes'] / 1024:.0f} "
      f"| {r['argument_bytes'] / 1024:.0f} |\n" for r in rows)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--out', default='benchmarks/results')
  args = parser.parse_args()
  rows = [temp_bytes(name, steps) for name in ('maml', 'imaml') for steps in STEPS]
  out = pathlib.Path(args.out)
  out.mkdir(parents=True, exist_ok=True)
  meta = {'jax': jax.__version__, 'backend': jax.default_backend(),
          'machine': platform.machine()}
  (out / 'imaml_memory.json').write_text(json.dumps({'meta': meta, 'rows': rows}, indent=2))
  print(markdown(rows))


if __name__ == '__main__':
  main()
