"""Losses and metrics for one task (outputs of the model, targets)."""

import jax
import jax.numpy as jnp
import optax


def mse(outputs_NxD, y_NxD):
  """Mean squared error over examples and output dimensions."""
  return jnp.mean(optax.squared_error(outputs_NxD, y_NxD))


def cross_entropy(logits_NxC, labels_N, label_smoothing: float = 0.0):
  """Softmax cross-entropy with integer labels, averaged over examples; with
  ``label_smoothing`` (Szegedy et al. 2016) against ``(1 - a) * one_hot + a / C``."""
  if not label_smoothing:
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits_NxC, labels_N))
  targets_NxC = optax.smooth_labels(
      jax.nn.one_hot(labels_N, logits_NxC.shape[-1], dtype=logits_NxC.dtype), label_smoothing)
  return jnp.mean(optax.softmax_cross_entropy(logits_NxC, targets_NxC))


def accuracy(logits_NxC, labels_N):
  """Fraction of examples whose arg-max class is the label."""
  return jnp.mean(jnp.argmax(logits_NxC, axis=-1) == labels_N)


def regression_metrics(outputs, y):
  return {'mse': mse(outputs, y)}


def classification_metrics(logits, labels):
  return {'accuracy': accuracy(logits, labels), 'loss': cross_entropy(logits, labels)}


def distillation(student_logits_NxC, teacher_logits_NxC, temperature: float = 4.0):
  """Knowledge distillation (Hinton, Vinyals & Dean 2015): ``T^2 KL(p_T || p_S)`` between the
  teacher's and the student's softmax at temperature ``T``, averaged over examples.

  The ``T^2`` keeps its gradient's scale independent of ``T``. Gradients flow into both sets
  of logits; stop the teacher's for plain distillation.
  """
  log_p_student = jax.nn.log_softmax(student_logits_NxC / temperature, axis=-1)
  log_p_teacher = jax.nn.log_softmax(teacher_logits_NxC / temperature, axis=-1)
  kl_N = optax.losses.kl_divergence_with_log_targets(log_p_student, log_p_teacher)
  return temperature ** 2 * jnp.mean(kl_N)
