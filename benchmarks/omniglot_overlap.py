"""How much a meta-test set that shares characters with meta-training lifts Omniglot accuracy.

Command:  python benchmarks/omniglot_overlap.py SPEC WORKDIR [--tasks 1000] [--seed 12345]
          [--out benchmarks/results]
          e.g. python benchmarks/omniglot_overlap.py imaml_omniglot:5w1s runs/imaml_omniglot_5w1s
Cost:     one meta-test per pool and evaluation protocol (iMAML 5w1s: about 2 minutes each on 2
          CPU cores).
Writes:   OUT/omniglot_overlap_<spec>.json and prints a Markdown table.

Scores the meta-parameters of a trained run (the latest checkpoint of WORKDIR, with the
settings it was trained with) with each of SPEC's evaluation protocols on three pools of 1692
classes (423 characters x 4 rotations), the same tasks (same key) for each:

  * 'disjoint': the meta-test split, 423 characters never seen in meta-training (our protocol);
  * 'seen': 423 of the 1200 meta-training characters;
  * 'redrawn': 423 characters drawn by a second permutation of all 1623, independent of the one
    that chose the 1200 meta-training characters. iMAML's published Omniglot numbers were
    measured so: the authors' measure_accuracy.py (github.com/aravindr93/imaml_dev) shuffles
    the 1623 characters with random.seed(12345) and tests on the last 423, while
    generate_task_defs.py shuffled them with random.seed(123) and meta-trained on the first
    1200, so about 1200/1623 = 74% of the test characters are meta-training characters.

The table gives, per pool, how many of its characters are meta-training characters.
"""

import argparse
import importlib
import json
import pathlib

import jax.numpy as jnp
import ml_collections
import numpy as np

from metaft import config as config_lib
from metaft import finetune, runner

omniglot = importlib.import_module('metaft.data.omniglot')  # the module, not its factory


def pools(task: dict, seed: int) -> dict[str, tuple[np.ndarray, int]]:
  """``{name: (uint8 images [1692, 20, 28, 28], meta-training characters among its 423)}``."""
  settings = dict(protocol=task.get('protocol', 'vinyals'), data_dir=task.get('data_dir'))
  train, test = (omniglot.load_split(s, **settings) for s in ('train', 'test'))
  chars, train_chars = len(test.char_id) // 4, len(train.char_id) // 4
  if settings['protocol'] != 'vinyals' or train_chars < chars:
    raise SystemExit('omniglot_overlap needs the vinyals protocol (1200/423 characters, '
                     'rotations as classes).')
  # Rows 4c..4c+3 of a split are character c's four rotations.
  images = np.concatenate([train.images, test.images]).reshape(-1, 4, 20, 28, 28)
  is_train = np.arange(len(images)) < train_chars
  seen = np.random.default_rng(seed).choice(train_chars, chars, replace=False)
  redrawn = np.random.default_rng(seed).permutation(len(images))[-chars:]
  out = {'disjoint': (test.images, 0)}
  for name, rows in (('seen', np.sort(seen)), ('redrawn', np.sort(redrawn))):
    out[name] = (images[rows].reshape(-1, 20, 28, 28), int(is_train[rows].sum()))
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('spec')
  parser.add_argument('workdir', type=pathlib.Path)
  parser.add_argument('--tasks', type=int, default=1000)
  parser.add_argument('--seed', type=int, default=12345)
  parser.add_argument('--out', type=pathlib.Path, default=pathlib.Path('benchmarks/results'))
  args = parser.parse_args()
  _, spec = config_lib.load_config(args.spec)
  # The run is scored as it was trained (its config.json, e.g. with an --config.outer.eps
  # override), under the spec's evaluation settings.
  trained, expected = (json.loads((args.workdir / 'config.json').read_text()),
                       json.loads(spec.to_json()))
  changed = sorted(k for k in trained
                   if k not in runner.RESUMABLE_KEYS and trained[k] != expected.get(k))
  config = ml_collections.ConfigDict(trained)
  config.eval = spec.eval
  if changed:
    print(f'{args.workdir} was trained with other {", ".join(changed)} than {args.spec}; '
          'scored with its own.', flush=True)
  config.eval.num_tasks = args.tasks
  params = finetune.load_params(args.workdir)
  step = json.loads((args.workdir / 'metrics.jsonl').read_text().splitlines()[-1])['step']
  rows = []
  setups = runner.eval_setups(config)  # built once; each pool swaps in its images
  for pool, (images, overlap) in pools(config.task.to_dict(), args.seed).items():
    for setup in setups:
      family = setup['family']
      if family.data.shape != images.shape:
        raise SystemExit(f'the test pool is {family.data.shape}, expected {images.shape}.')
      setup = {**setup, 'family': family._replace(data=jnp.asarray(images))}
      for row in runner.evaluate_rows(config, params=params, train_seconds=0.0, **setup):
        rows.append({'pool': pool, 'seen_chars': overlap, 'chars': len(images) // 4,
                     'protocol': row['protocol'], 'adapt_steps': row['adapt_steps'],
                     'mean': row['mean'], 'ci95': row['ci95']})
        print(rows[-1], flush=True)
  print(f'\n{args.spec}, {args.workdir} at meta-step {step}, {args.tasks} tasks per row\n')
  print('| pool | meta-training characters in it | protocol | adapt steps | accuracy |\n'
        '|---|---|---|---|---|')
  for r in rows:
    print(f"| {r['pool']} | {r['seen_chars']} of {r['chars']} | {r['protocol'] or '-'} | "
          f"{r['adapt_steps']} | {100 * r['mean']:.2f} ± {100 * r['ci95']:.2f}% |")
  args.out.mkdir(parents=True, exist_ok=True)
  name = args.spec.replace(':', '_').replace(',', '_')
  (args.out / f'omniglot_overlap_{name}.json').write_text(json.dumps(
      {'spec': args.spec, 'workdir': str(args.workdir), 'meta_step': step,
       'tasks': args.tasks, 'seed': args.seed, 'rows': rows}, indent=2))


if __name__ == '__main__':
  main()
