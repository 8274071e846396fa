"""Whole-network fine-tuning with L2-SP beside plain fine-tuning, on the same meta-test tasks.

    python benchmarks/finetune_l2sp.py WORKDIR [--weights 0 0.01 0.1 1] [--settings 5w1s 5w5s]
        [--num-tasks 1000]

WORKDIR is a `metaft run pretrain_omniglot` workdir (e.g. runs/pretrain_omniglot_aug). For each
setting, its network is fine-tuned as the experiment's `all` protocol does (a new head at the
class prototypes, 100 Adam steps at 1e-3 on the whole network), once per L2-SP weight
(`l2_sp`: weight / 2 times the squared distance to the pretrained parameters, added to the
support loss; `finetune.make_adapt`), on the tasks the experiment scores (its seed and batch
size). Prints the query accuracy of each (mean and 95% interval) and its difference to the
first weight, task by task, with the interval of that paired mean.
"""

import argparse
import json
import pathlib
import sys

import jax
import ml_collections
import numpy as np

from metaft import finetune, runner
from metaft.evaluate import evaluate, mean_ci95

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / 'experiments'))
import pretrain_omniglot  # noqa: E402  (the experiment's protocols)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('workdir', type=pathlib.Path)
  parser.add_argument('--weights', type=float, nargs='+', default=[0.0, 0.01, 0.1, 1.0])
  parser.add_argument('--settings', nargs='+', default=['5w1s', '5w5s'])
  parser.add_argument('--num-tasks', type=int, default=1000)
  args = parser.parse_args()
  config = ml_collections.ConfigDict(json.loads((args.workdir / 'config.json').read_text()))
  config.eval.num_tasks = args.num_tasks
  _, params = finetune.load_model(args.workdir)
  train_family = runner.call_factory('data', config.task, split='train')
  model = runner.build_model(config.model, train_family.num_outputs)
  key = jax.random.fold_in(jax.random.key(config.seed), 1)  # the runner's evaluation key
  print('| setting | l2_sp | accuracy ± 95% CI | minus the first weight, paired | tasks |')
  print('|---|---|---|---|---|')
  for setting in args.settings:
    protocol = pretrain_omniglot.protocols(settings=(setting,), proto_only=())[f'{setting} all']
    family = runner.build_test_family(config, protocol)
    first = None
    for weight in args.weights:
      protocol['learner']['l2_sp'] = weight
      learner = runner.build_learner(config.learner, model, train_family.loss, protocol)
      accuracy = np.asarray(evaluate(learner, family, params, num_tasks=args.num_tasks,
                                     steps=protocol['learner']['inner_steps'],
                                     batch_size=config.eval.batch_size, key=key)['accuracy'])
      first = accuracy if first is None else first
      mean, ci = mean_ci95(accuracy)
      diff, diff_ci = mean_ci95(accuracy - first)
      print(f'| {setting} all | {weight:g} | {100 * mean:.2f} ± {100 * ci:.2f}% | '
            f'{100 * diff:+.2f} ± {100 * diff_ci:.2f} | {args.num_tasks} |', flush=True)


if __name__ == '__main__':
  main()
