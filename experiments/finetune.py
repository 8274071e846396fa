"""Fine-tune a checkpoint of an earlier `metaft run` on one task given as a file.

Command:   metaft run finetune --config.checkpoint=runs/pretrain_omniglot \
               --config.task_file=my_task.npz [--config.learner.trainable=head ...]
Smoke:     metaft run finetune:smoke   (pretrains sine for seconds, writes an example task)
Cost:      seconds.
Expected:  results.md with the query metrics before (0 steps) and after fine-tuning; the
           fine-tuned parameters in adapted.npz and the query outputs in predictions.npz.

The task file is an .npz with support_x, support_y, query_x and (optionally) query_y, inputs
as the model takes them (Omniglot: [N, 28, 28, 1] float32, ink 1). Integer labels mean
classification (cross-entropy), float targets regression (MSE). Fine-tuning is the learner's
own `adapt` (here `pretrain`'s): any optax optimizer, steps, a mask of what trains (`all`,
`head`, `batchnorm`, `activations`, `skip:K`, `re:REGEX`), a new head for a new label set,
early stopping on a held-out fraction of the support set (`holdout`, `patience`), and L2-SP
toward the checkpoint's weights (`l2_sp`).
With `--config.example_task.name=omniglot ...` (or sine) a missing task_file is first written
as one task drawn from that family, to show the format.
"""

import ml_collections


def get_config(arg=None):
  args = set(filter(None, (arg or '').split(',')))
  if args - {'smoke'}:
    raise ValueError(f'unknown variant {",".join(sorted(args - {"smoke"}))}; variants: smoke')
  c = ml_collections.ConfigDict()
  c.job = 'finetune'
  c.seed = 0
  c.checkpoint = 'runs/pretrain_omniglot'
  c.task_file = 'task.npz'
  c.learner = dict(name='pretrain', inner_steps=100, trainable='all', new_head=0,
                   head_init='zeros', holdout=0.0, patience=0, l2_sp=0.0,
                   inner_opt=dict(name='adam', learning_rate=1e-3))
  c.example_task = dict(name='', ways=5, shots=5, query=15)
  c.prerequisites = {}
  if 'smoke' in args:
    c.checkpoint = '{workdir}/pretrained'
    c.prerequisites = {c.checkpoint: 'sine_pretrain:smoke'}
    c.task_file = '{workdir}/task.npz'
    c.example_task = dict(name='sine', shots=10, query=20)
    c.learner.inner_steps = 20
  return c
