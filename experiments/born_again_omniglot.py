"""Born-again self-distillation of the pretrained Omniglot network (Tian et al. 2020, sec. 3.2).

Command:   metaft run born_again_omniglot       (`:smoke` for seconds)
Needs:     the teacher, `runs/pretrain_omniglot`; trained first by the same command if absent.
Cost:      see benchmarks/RESULTS.md.
Expected:  see benchmarks/RESULTS.md, "Fine-tuning and distillation".

A fresh Conv-4 student learns the same 4800-class problem as pretrain_omniglot from
``0.5 * CE + 0.5 * T^2 KL(teacher || student)`` at temperature 4, the teacher fixed; then it is
evaluated with the same protocols (new head; head-only or whole-network fine-tuning).
"""

from pretrain_omniglot import base_config


def get_config(arg=None):
  config = base_config('born-again', arg)
  smoke = 'smoke' in (arg or '')
  teacher = '{workdir}/teacher' if smoke else 'runs/pretrain_omniglot'
  config.learner.name = 'born_again'
  config.learner.teacher = teacher
  config.learner.temperature = 4.0
  config.learner.alpha = 0.5
  config.prerequisites = {teacher: 'pretrain_omniglot:smoke' if smoke else 'pretrain_omniglot'}
  return config
