"""The sine comparison: MAML, first-order MAML and the pretrained baseline at K = 5 and 10.

Command:   metaft run sine                 (the README's main job)
Smoke:     metaft run sine:smoke           (about 30 s)
Cost:      six runs of 70,000 meta-steps; under 5 minutes on 2 CPU cores in all.
Expected:  MAML K=10 after 1 test step: MSE about 0.3, against about 3 for the pretrained
           baseline; rows for 1 and 10 test steps, 600 test tasks each, with 95% intervals.
"""

import ml_collections


def get_config(arg=None):
  if arg not in (None, 'smoke'):
    raise ValueError(f'unknown variant {arg}; variants: smoke')
  suffix = ',smoke' if arg == 'smoke' else ''
  config = ml_collections.ConfigDict()
  config.runs = tuple(f'{name}:k{k}{suffix}' for name in ('sine_maml', 'sine_fomaml',
                                                         'sine_pretrain') for k in (5, 10))
  return config
