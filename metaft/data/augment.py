"""Image augmentation as pure JAX functions of a key, for use inside ``jit`` and ``vmap``.

Images are NHWC floats whose background is 0 (Omniglot's ink-1 inputs), so pixels moved in
from outside the image are background.
"""

import jax
import jax.numpy as jnp


def random_shift(key: jax.Array, images_NxHxWxC: jax.Array, max_pixels: int) -> jax.Array:
  """Translates each image by its own whole-pixel offset, uniform in [-max_pixels, max_pixels]
  on each axis, filling with 0."""
  if max_pixels == 0:
    return images_NxHxWxC
  n, h, w, c = images_NxHxWxC.shape
  m = max_pixels
  offsets_Nx2 = jax.random.randint(key, (n, 2), -m, m + 1)
  padded_NxHxWxC = jnp.pad(images_NxHxWxC, ((0, 0), (m, m), (m, m), (0, 0)))

  def crop(image_HxWxC, offset_2):
    return jax.lax.dynamic_slice(image_HxWxC, (m - offset_2[0], m - offset_2[1], 0), (h, w, c))

  return jax.vmap(crop)(padded_NxHxWxC, offsets_Nx2)


def rotate(images_NxHxWxC: jax.Array, radians_N: jax.Array) -> jax.Array:
  """Rotates each image about its centre by its angle, counter-clockwise as displayed (rows
  down; a quarter turn is ``jnp.rot90(images, 1, axes=(1, 2))``), bilinear, filling with 0."""
  _, h, w, _ = images_NxHxWxC.shape
  rows_HxW, cols_HxW = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32),
                                    jnp.arange(w, dtype=jnp.float32), indexing='ij')
  cy, cx = (h - 1) / 2, (w - 1) / 2

  def one(image_HxWxC, angle):
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    # The output pixel (r, c) reads the input at the inverse rotation of its offset.
    src_r = cy + cos * (rows_HxW - cy) + sin * (cols_HxW - cx)
    src_c = cx - sin * (rows_HxW - cy) + cos * (cols_HxW - cx)
    sample = lambda channel_HxW: jax.scipy.ndimage.map_coordinates(
        channel_HxW, [src_r, src_c], order=1, mode='constant', cval=0.0)
    return jax.vmap(sample, in_axes=2, out_axes=2)(image_HxWxC)

  return jax.vmap(one)(images_NxHxWxC, radians_N)


def random_rotate(key: jax.Array, images_NxHxWxC: jax.Array, max_degrees: float) -> jax.Array:
  """Rotates each image by its own angle, uniform in [-max_degrees, max_degrees]."""
  if max_degrees == 0:
    return images_NxHxWxC
  limit = jnp.deg2rad(max_degrees)
  angles_N = jax.random.uniform(key, images_NxHxWxC.shape[:1], minval=-limit, maxval=limit)
  return rotate(images_NxHxWxC, angles_N)


def random_flip(key: jax.Array, images_NxHxWxC: jax.Array) -> jax.Array:
  """Mirrors each image left to right with probability 1/2, its own draw (for natural images,
  not for characters)."""
  flip_N = jax.random.bernoulli(key, 0.5, images_NxHxWxC.shape[:1])
  return jnp.where(flip_N[:, None, None, None], images_NxHxWxC[:, :, ::-1], images_NxHxWxC)


def shift_and_rotate(key: jax.Array, images_NxHxWxC: jax.Array, *, shift: int = 0,
                     degrees: float = 0.0, flip: bool = False) -> jax.Array:
  """``random_rotate`` then ``random_shift`` (then ``random_flip`` with ``flip``), each image
  with its own draw."""
  if flip:
    key, k_flip = jax.random.split(key)
  k_rotate, k_shift = jax.random.split(key)
  images = random_shift(k_shift, random_rotate(k_rotate, images_NxHxWxC, degrees), shift)
  return random_flip(k_flip, images) if flip else images
