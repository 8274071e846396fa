"""MetaDistil on Omniglot: a teacher, started from the pretrained network, that learns to teach
a fresh student (Zhou et al., ACL 2022), the student then fine-tuned on each test task.

Command:   metaft run metadistil_omniglot       (`:smoke` for seconds)
Needs:     the teacher, `runs/pretrain_omniglot`; trained first by the same command if absent.
Cost:      see benchmarks/RESULTS.md.
Expected:  see benchmarks/RESULTS.md, "Fine-tuning and distillation".

Each step draws a training batch (128 classes x 1 drawing, the support set) and a quiz batch
(the same classes, another drawing each, the query set). The student takes a pilot SGD step
(0.1) on ``0.5 CE + 0.5 KD(T=4)``; the teacher follows the gradient of the pilot student's quiz
loss (second order); the student follows its distillation gradient. Adam 1e-3 for the
student and 1e-5 for the teacher (`outer.scale`): at 1e-3 the teacher drifts from a good
classifier within a thousand steps (its cross-entropy on quiz batches rose from about 0.1 to 5.2, against a
fresh network's 8.5), and a student distilled from it learns little.
Evaluated with pretrain_omniglot's protocols.
"""

from pretrain_omniglot import distill_config


def get_config(arg=None):
  config = distill_config('MetaDistil', 'metadistil', arg, pilot_lr=0.1)
  config.outer.scale = {'teacher': 0.01}  # the teacher at Adam 1e-5, the student at 1e-3
  return config
