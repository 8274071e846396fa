"""Born-again self-distillation of the pretrained Omniglot network (Tian et al. 2020, sec. 3.2).

Command:   metaft run born_again_omniglot       (`:smoke` for seconds)
Needs:     the teacher, `runs/pretrain_omniglot`; trained first by the same command if absent.
Cost:      see benchmarks/RESULTS.md.
Expected:  see benchmarks/RESULTS.md, "Fine-tuning and distillation".

A fresh Conv-4 student learns the same 4800-class problem as pretrain_omniglot from
``0.5 * CE + 0.5 * T^2 KL(teacher || student)`` at temperature 4, the teacher fixed; then it is
evaluated with the same protocols (new head; head-only or whole-network fine-tuning).
"""

from pretrain_omniglot import distill_config


def get_config(arg=None):
  return distill_config('born-again', 'born_again', arg)
