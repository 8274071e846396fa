"""MetaDistil on Omniglot: a teacher, started from the pretrained network, that learns to teach
a fresh student (Zhou et al., ACL 2022), the student then fine-tuned on each test task.

Command:   metaft run metadistil_omniglot       (`:smoke` for seconds)
Needs:     the teacher, `runs/pretrain_omniglot`; trained first by the same command if absent.
Cost:      see benchmarks/RESULTS.md.
Expected:  see benchmarks/RESULTS.md, "Fine-tuning and distillation".

Each step draws a training batch (128 classes x 1 drawing, the support set) and a quiz batch
(the same classes, another drawing each, the query set). The student takes a pilot SGD step
(0.1) on ``0.5 CE + 0.5 KD(T=4)``; the teacher follows the gradient of the pilot student's quiz
loss (second order); the student follows its distillation gradient. Both with Adam 1e-3.
Evaluated with pretrain_omniglot's protocols.
"""

from pretrain_omniglot import base_config


def get_config(arg=None):
  config = base_config('MetaDistil', arg)
  smoke = 'smoke' in (arg or '')
  teacher = '{workdir}/teacher' if smoke else 'runs/pretrain_omniglot'
  config.learner.name = 'metadistil'
  config.learner.teacher = teacher
  config.learner.temperature = 4.0
  config.learner.alpha = 0.5
  config.learner.pilot_lr = 0.1
  config.prerequisites = {teacher: 'pretrain_omniglot:smoke' if smoke else 'pretrain_omniglot'}
  config.train_steps = 10_000 if not smoke else config.train_steps
  return config
