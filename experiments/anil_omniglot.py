"""ANIL on Omniglot (Raghu, Raghu, Bengio & Vinyals 2020, table 2): MAML adapting the head only.

Command:   metaft run anil_omniglot:20w1s   (also 20w5s, and the 5-way settings; `:smoke`)
Cost:      20w1s: 22 meta-steps/s on 2 CPU cores (the body's features computed once per task,
           benchmarks/head_only_speed.py), so the paper's 40,000 meta-steps take about 30
           minutes; 20w5s: 1.7-2.3 meta-steps/s (4.8-6.5 hours).
Expected:  20w1s 96.2%, 20w5s 98.0% (published); the paper gives no 5-way Omniglot numbers.
           Ours 20w1s 93.12% after 5 test steps, 94.34% after 10 (40,000 meta-steps, 2,015 s);
           with `:20w1s,aug` (augmented meta-training) 94.40% and 95.53% (6,857 s);
           20w5s 97.19% after 5, 98.01% after 10 (40,000 meta-steps, 24,508 s).

As maml_omniglot (ANIL's Omniglot runs use MAML's network and hyperparameters: 20-way with
meta-batch 16 and 5 inner SGD steps at 0.1), with the inner loop restricted to the head by a
masked inner optimizer; the body is meta-learned in the outer loop only.
"""

from maml_omniglot import VARIANTS, base_config

PUBLISHED = {'20w1s': 0.962, '20w5s': 0.980}


def get_config(arg=None):
  variants = {k: v[:-1] + (PUBLISHED.get(k),) for k, v in VARIANTS.items()}
  config = base_config('anil', arg, variants)
  config.learner.name = 'anil'
  return config
