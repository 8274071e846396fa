"""Distillation-based meta-learners: born-again self-distillation and MetaDistil.

Both train a student on ordinary (global-label) batches, as ``pretrain`` does, against a
teacher's softened outputs, and fine-tune the student on each test task with ``pretrain``'s
``adapt``. Meta-parameters are ``{'student': ..., 'teacher': ...}``. The teacher comes from a
runner workdir or ``.npz`` (``teacher='runs/pretrain_omniglot'``), or, with ``teacher=None``,
is initialised like the student (for tests; MetaDistil then learns it from scratch).
"""

import jax
import jax.numpy as jnp

from metaft import core
from metaft import finetune
from metaft import losses
from metaft.errors import UserError
from metaft.learners.pretrain import pretrain


def _distiller(model, loss, teacher, temperature, alpha, options):
  """The shared parts: ``(base learner, init, distil_loss)``."""
  if not 0 <= alpha <= 1:
    raise UserError(f'alpha (the weight of the label loss) must be in [0, 1], got {alpha}.')
  t_model, t_params = model, None
  if isinstance(teacher, str):
    t_model, t_params = (finetune.load_model(teacher) if not teacher.endswith('.npz')
                         else (model, finetune.load_params(teacher)))
  elif teacher is not None:
    raise UserError(f'teacher must be a runner workdir, an .npz file or None, got {teacher!r}.')
  base = pretrain(model, loss, **options)

  def init(key, x):
    k_student, k_teacher = jax.random.split(key)
    student = model.init(k_student, x)
    params = t_params if t_params is not None else t_model.init(k_teacher, x)
    out_s = jax.eval_shape(model.apply, student, x).shape
    out_t = jax.eval_shape(t_model.apply, params, x).shape
    if out_s != out_t:
      raise UserError(f'the teacher gives outputs of shape {out_t[1:]}, the student '
                      f'{out_s[1:]}: they must classify the same classes.')
    return {'student': student, 'teacher': params}

  def distil_loss(student, teacher_params, split):
    """``alpha * loss(labels) + (1 - alpha) * KD(teacher)`` of the student on ``split``."""
    s_logits = model.apply(student, split.x)
    t_logits = t_model.apply(teacher_params, split.x)
    return (alpha * loss(s_logits, split.y)
            + (1 - alpha) * losses.distillation(s_logits, t_logits, temperature))

  def adapt(meta_params, support, *, steps=None, key=None):
    return base.adapt(meta_params['student'], support, steps=steps, key=key)

  return base._replace(init=init, adapt=adapt), distil_loss


def born_again(model: core.Model, loss, *, teacher: str | None = None,
               temperature: float = 4.0, alpha: float = 0.5, **options) -> core.MetaLearner:
  """Self-distillation of a pretrained network (Furlanello et al. 2018; Tian et al. 2020).

  The student minimises ``alpha * CE + (1 - alpha) * T^2 KL(teacher || student)`` on each
  batch (support and query together); the teacher is fixed (its gradient is stopped, so the
  outer optimizer leaves it where it is). At test time the student is fine-tuned like
  ``pretrain``'s network.

  Args:
    model, loss: the student network and the label loss (cross-entropy).
    teacher: a runner workdir or ``.npz`` of the teacher (its model from ``model.json``).
    temperature: the softmax temperature of the distillation term.
    alpha: the weight of the label loss.
    **options: ``pretrain``'s fine-tuning settings (``inner_steps``, ``inner_opt``,
      ``trainable``, ``new_head``, ...).

  Example::

    learner = born_again(conv4(num_outputs=4800), losses.cross_entropy,
                         teacher='runs/pretrain_omniglot', new_head=5, trainable='head')
  """
  base, distil_loss = _distiller(model, loss, teacher, temperature, alpha, options)

  def meta_loss(meta_params, task, *, key=None):
    del key
    teacher_params = jax.lax.stop_gradient(meta_params['teacher'])
    return distil_loss(meta_params['student'], teacher_params, task.merged()), {}

  return base._replace(meta_loss=meta_loss)


def metadistil(model: core.Model, loss, *, teacher: str | None = None,
               temperature: float = 4.0, alpha: float = 0.5, pilot_lr: float = 0.1,
               **options) -> core.MetaLearner:
  """MetaDistil (Zhou, Xu & McAuley, ACL 2022, "BERT Learns to Teach"): a teacher that learns
  to teach, by the quiz loss of a student one pilot step ahead.

  For each batch (``support``: the training batch; ``query``: a held-out quiz batch):

  1. pilot step: ``S' = S - pilot_lr * grad_S L(S, T; support)`` from the student ``S``
     (held constant) with the distillation loss ``L = alpha CE + (1 - alpha) KD(T)``;
  2. the teacher's gradient is that of the quiz loss ``CE(S'; query)`` through the pilot
     step (second order: ``-pilot_lr * d^2 L / dS dT`` times the quiz gradient);
  3. the student's gradient is ``grad_S L(S, T; support)`` with the teacher held constant:
     the same gradient as the pilot step's, so one forward and backward pass serves both.

  The shared outer step applies both gradients at once, so the student's step uses the
  teacher of this iteration rather than the one just updated (the paper's order, shifted by
  one teacher step).

  Args:
    model, loss, teacher, temperature, alpha, **options: as for ``born_again``.
    pilot_lr: the SGD step size of the pilot update.

  Example::

    learner = metadistil(conv4(num_outputs=4800), losses.cross_entropy,
                         teacher='runs/pretrain_omniglot', new_head=5)
  """
  base, distil_loss = _distiller(model, loss, teacher, temperature, alpha, options)

  def meta_loss(meta_params, task, *, key=None):
    del key
    student, teacher_params = meta_params['student'], meta_params['teacher']
    fixed = jax.lax.stop_gradient(student)
    # One forward and backward pass on the support batch serves both networks: its gradient
    # g(T) is the pilot step (differentiated with respect to the teacher T) and, held fixed,
    # the student's own gradient.
    train, grad_S = jax.value_and_grad(distil_loss)(fixed, teacher_params, task.support)
    pilot = jax.tree.map(lambda s, g: s - pilot_lr * g, fixed, grad_S)
    quiz = loss(model.apply(pilot, task.query.x), task.query.y)
    # Value `train`, gradient g with respect to the student, none to the teacher.
    linear = sum(jnp.vdot(g, s - f) for g, s, f in zip(
        jax.tree.leaves(jax.lax.stop_gradient(grad_S)), jax.tree.leaves(student),
        jax.tree.leaves(fixed)))
    train = jax.lax.stop_gradient(train)
    return train + linear + quiz, {'quiz_loss': quiz, 'student_loss': train}

  return base._replace(meta_loss=meta_loss)


# The conformance suite (tests/test_conformance.py) runs them on a classification task.
born_again.conformance = {'task': 'classification'}
metadistil.conformance = {'task': 'classification'}
