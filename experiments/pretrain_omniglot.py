"""Supervised pretraining + fine-tuning on Omniglot (Tian et al. 2020), beside MAML's rows.

Command:   metaft run pretrain_omniglot          (`:smoke` for seconds; `:aug` trains on
           images rotated by up to 10 degrees and shifted by up to 2 pixels)
Cost:      12,000 steps in 8.5 minutes of training on 2 CPU cores (38 steps/s), then the
           evaluation of 8 protocols on 1000 tasks each; one training run serves every row.
Expected:  5w1s 98.1%, 5w5s 99.5% (proto and whole-network fine-tuning; head-only lower),
           20w1s 89.5% (proto); `:aug` 98.9 / 99.6 / 94.3%; see benchmarks/RESULTS.md,
           "Fine-tuning and distillation".

One Conv-4 (MAML's Omniglot network: stride-2 convolutions, batch norm with batch statistics,
head on the spatial mean) is trained as an ordinary classifier over all 4800 meta-training
classes (1200 characters x 4 rotations, Vinyals split): each step draws 128 classes and 2
drawings of each (256 images), Adam 1e-3. No episode, no inner loop.

Meta-test, for 5-way 1-shot and 5-shot (20-way: the prototype head only): the same 1000 tasks
per setting as the MAML rows (423 test characters, K query
examples per class). Each protocol puts a new N-way head on the network and fine-tunes it on
the support set with the learner's own ``adapt``:
  head:  only the new head (initialised at zero) trains: logistic regression on the features,
         Adam 1e-2, as Tian et al.'s linear classifier.
  all:   the whole network trains, Adam 1e-3, the head initialised at the class prototypes
         (a zero head gives the body no gradient in the first step).
  proto: no step at all: the prototype head alone (the nearest class mean of the features).
Head and all run 100 steps.
"""

import ml_collections

from maml_omniglot import augment, omniglot_config, parse_arg, shrink_for_smoke

STEPS = 100
PUBLISHED_MAML = {'5w1s': 0.987, '5w5s': 0.999, '20w1s': 0.958, '20w5s': 0.989}


def protocols(settings=('5w1s', '5w5s'), steps=STEPS, proto_only=('20w1s', '20w5s')):
  """Evaluation protocols: each setting x {prototype head, head-only, whole-network}
  fine-tuning; the settings in ``proto_only`` get only the prototype head (whole-network
  fine-tuning of 20-way 5-shot tasks would cost about 30 minutes per 1000 tasks here)."""
  out = {}
  for name in settings + proto_only:
    ways, shots = (int(v) for v in name.rstrip('s').split('w'))
    task = dict(ways=ways, shots=shots, query=shots)
    head = dict(new_head=ways, trainable='head', head_init='zeros', inner_steps=steps,
                inner_opt=dict(name='adam', learning_rate=1e-2))
    whole = dict(new_head=ways, trainable='all', head_init='prototypes', inner_steps=steps,
                 inner_opt=dict(name='adam', learning_rate=1e-3))
    out[f'{name} proto'] = dict(task=task, learner=dict(whole, inner_steps=0), adapt_steps=(0,))
    if name in settings:
      out[f'{name} head'] = dict(task=task, learner=head)
      out[f'{name} all'] = dict(task=task, learner=whole)
  return out


def base_config(label: str, arg: str | None) -> ml_collections.ConfigDict:
  """The pretraining config shared by the distillation experiments; ``arg``: '' or 'smoke'."""
  _, smoke = parse_arg(arg)
  c = omniglot_config(label, ways=128, shots=1, query=1, labels='global')
  c.learner = dict(name='pretrain', new_head=5, inner_steps=STEPS)
  c.outer = dict(name='adam', learning_rate=1e-3)
  c.meta_batch = 1
  c.train_steps = 12_000
  c.eval.update(dict(adapt_steps=(STEPS,), task=dict(labels='task', ways=5, shots=1, query=1),
                     protocols=protocols()))
  if smoke:
    shrink_for_smoke(c)
    c.task.ways = 16
    c.eval.num_tasks = 10
    c.eval.batch_size = 10
    c.eval.adapt_steps = (3,)
    c.eval.protocols = protocols(('5w1s',), proto_only=())
  return c


def distill_config(label: str, learner: str, arg: str | None, **settings):
  """``base_config`` for a distillation learner whose teacher is this experiment's network
  (trained first if ``runs/pretrain_omniglot`` has no results; the smoke variant trains its
  own smoke teacher inside its workdir)."""
  config = base_config(label, arg)
  smoke = 'smoke' in (arg or '')
  teacher = '{workdir}/teacher' if smoke else 'runs/pretrain_omniglot'
  config.learner.name = learner
  config.learner.teacher = teacher
  config.learner.temperature = 4.0
  config.learner.alpha = 0.5
  config.learner.update(settings)
  config.prerequisites = {teacher: 'pretrain_omniglot:smoke' if smoke else 'pretrain_omniglot'}
  return config


def get_config(arg=None):
  variant, smoke = parse_arg(arg, ('aug',))
  config = base_config('pretrain', 'smoke' if smoke else None)
  if variant == 'aug':
    augment(config)
  return config
