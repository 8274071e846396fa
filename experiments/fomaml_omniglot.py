"""First-order MAML on Omniglot (Finn et al. 2017, table 1, "first order approx.").

Command:   metaft run fomaml_omniglot:5w1s   (also 5w5s, 20w1s, 20w5s; `:smoke`)
Cost:      5w1s: 40,000 meta-steps in 21 minutes on 2 CPU cores (2.6x faster per step than MAML);
           5w5s: 40,000 in about 78 minutes alone (8.6 steps/s; 6,635 s of wall time, shared);
           20w1s: about 6 steps/s alone (40,000 in about 2 hours); 20w5s: 1.05 steps/s
           (about 10.5 hours).
Expected:  5w1s 98.3%, 5w5s 99.2%, 20w1s 89.4%, 20w5s 97.9% (published); ours 5w1s 98.34%,
           5w5s 99.44%, 20w1s 89.05% after 14,000 of the 40,000 meta-steps, 20w5s 94.41%
           after 2,000.

As maml_omniglot, with the gradient through the inner updates stopped.
"""

from maml_omniglot import VARIANTS, base_config

PUBLISHED = {'5w1s': 0.983, '5w5s': 0.992, '20w1s': 0.894, '20w5s': 0.979}


def get_config(arg=None):
  variants = {k: v[:-1] + (PUBLISHED[k],) for k, v in VARIANTS.items()}
  config = base_config('fomaml', arg, variants)
  config.learner.name = 'fomaml'
  return config
