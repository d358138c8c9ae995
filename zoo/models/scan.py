"""Linear recurrences over a whole sequence at once: the parallel forms' core.

A cell whose new state is linear in its old one, h_t = a_t ⊙ h_{t-1} + b_t with
a_t and b_t computed from the inputs alone (minGRU, minLSTM, RG-LRU, LRU), need
not step through time one matrix product at a time: every a_t and b_t comes
from one matrix product over the whole sequence, and what is left is an
elementwise recurrence. This module solves it, in ``keras.ops`` only, two ways
(``METHODS``): one elementwise step at a time (``keras.ops.scan`` over T steps
of a*h + b, no matrix product inside the loop), or in two levels.

Two-level (chunked) form. The T steps are cut into T / C chunks of C steps.
First every chunk runs its own recurrence from a zero state, all chunks at
once: C elementwise steps, each over a (batch, T / C, n) tensor, with the
running product P_t = a_1 ⋯ a_t of the chunk. Then the chunks are chained, one
sequential step per chunk: S_k = P_C,k ⊙ S_{k-1} + local_C,k. Each step's
state is then local_t + P_t ⊙ S_{k-1}: exactly the recurrence, regrouped, with
no division and no logarithm (nothing overflows: |P_t| ≤ 1 when |a| ≤ 1, and a
product that underflows is one whose true value is below float32's range).
A sequence of T steps costs C + T / C sequential steps instead of T; C = √T
makes it 2√T (63 instead of 1000 at T = 1000).

On a CPU the generic parallel prefix (``keras.ops.associative_scan``) does
O(T log T) work in log T levels, each slicing and padding the whole sequence;
it was slower than a plain step-by-step scan at T = 1000 on a 2-core machine.
"""

from __future__ import annotations

import math

from keras import ops


def chunk_size(steps: int) -> int:
    """Steps per chunk: ⌈√T⌉, which minimises C + T / C."""
    return max(1, math.ceil(math.sqrt(steps)))


def _chunks(x, chunk: int, fill: float):
    """(batch, T, n) -> (chunk, batch, chunks, n), padding the end with ``fill``.
    The step within a chunk leads, so each of the chunk's steps is one contiguous slice."""
    steps = x.shape[1]
    pad = (-steps) % chunk
    if pad:
        x = ops.pad(x, ((0, 0), (0, pad), (0, 0)), constant_values=fill)
    return ops.moveaxis(ops.reshape(x, (x.shape[0], (steps + pad) // chunk, chunk, x.shape[-1])), 2, 0)


def _unchunk(x, steps: int):
    """(chunk, batch, chunks, n) -> (batch, steps, n), the padding dropped."""
    x = ops.moveaxis(x, 0, 2)
    return ops.reshape(x, (x.shape[0], -1, x.shape[-1]))[:, :steps]


def two_level_linear_recurrence(a, b, h0, chunk: int | None = None):
    """``linear_recurrence`` by the two-level (chunked) form; ``chunk`` defaults to ⌈√T⌉."""
    steps = b.shape[1]
    chunk = chunk or chunk_size(steps)
    aa, bb = _chunks(a, chunk, 1.0), _chunks(b, chunk, 0.0)  # padding at the end: a = 1, b = 0
    # Level 1: every chunk from a zero state, all chunks at once (C unrolled elementwise steps).
    local, product = [bb[0]], [aa[0]]
    for t in range(1, chunk):
        local.append(aa[t] * local[-1] + bb[t])
        product.append(aa[t] * product[-1])

    # Level 2: the state each chunk starts from, one step per chunk.
    def carry(s, inputs):
        p, e = inputs
        return p * s + e, s

    _, starts = ops.scan(carry, h0, (ops.moveaxis(product[-1], 1, 0), ops.moveaxis(local[-1], 1, 0)))
    starts = ops.moveaxis(starts, 0, 1)  # (batch, chunks, n)
    return _unchunk(ops.stack([e + p * starts for e, p in zip(local, product)]), steps)


def two_level_complex_linear_recurrence(a, b, h0, chunk: int | None = None):
    """``complex_linear_recurrence`` by the two-level (chunked) form."""
    b_re, b_im = b
    steps = b_re.shape[1]
    chunk = chunk or chunk_size(steps)
    a_re, a_im = (ops.broadcast_to(x, b_re.shape) for x in a)
    ar, ai = _chunks(a_re, chunk, 1.0), _chunks(a_im, chunk, 0.0)
    br, bi = _chunks(b_re, chunk, 0.0), _chunks(b_im, chunk, 0.0)

    def mul(x_re, x_im, y_re, y_im):
        return x_re * y_re - x_im * y_im, x_re * y_im + x_im * y_re

    lr, li, pr, pi = [br[0]], [bi[0]], [ar[0]], [ai[0]]
    for t in range(1, chunk):
        m_re, m_im = mul(ar[t], ai[t], lr[-1], li[-1])
        lr.append(m_re + br[t])
        li.append(m_im + bi[t])
        q_re, q_im = mul(ar[t], ai[t], pr[-1], pi[-1])
        pr.append(q_re)
        pi.append(q_im)

    def carry(s, inputs):
        p_re, p_im, e_re, e_im = inputs
        m_re, m_im = mul(p_re, p_im, s[0], s[1])
        return (m_re + e_re, m_im + e_im), s

    ends = tuple(ops.moveaxis(x[-1], 1, 0) for x in (pr, pi, lr, li))
    _, (s_re, s_im) = ops.scan(carry, tuple(h0), ends)
    s_re, s_im = (ops.moveaxis(s, 0, 1) for s in (s_re, s_im))
    out_re, out_im = [], []
    for t in range(chunk):
        m_re, m_im = mul(pr[t], pi[t], s_re, s_im)
        out_re.append(lr[t] + m_re)
        out_im.append(li[t] + m_im)
    return _unchunk(ops.stack(out_re), steps), _unchunk(ops.stack(out_im), steps)


def sequential_linear_recurrence(a, b, h0):
    """``linear_recurrence`` one elementwise step at a time (``keras.ops.scan``)."""

    def step(h, inputs):
        at, bt = inputs
        h = at * h + bt
        return h, h

    _, hs = ops.scan(step, h0, (ops.moveaxis(a, 1, 0), ops.moveaxis(b, 1, 0)))
    return ops.moveaxis(hs, 0, 1)


def sequential_complex_linear_recurrence(a, b, h0):
    """``complex_linear_recurrence`` one elementwise step at a time (``keras.ops.scan``)."""
    a_re, a_im = (ops.broadcast_to(x, b[0].shape) for x in a)

    def step(h, inputs):
        ar, ai, br, bi = inputs
        h = (ar * h[0] - ai * h[1] + br, ar * h[1] + ai * h[0] + bi)
        return h, h

    xs = tuple(ops.moveaxis(x, 1, 0) for x in (a_re, a_im, *b))
    _, (h_re, h_im) = ops.scan(step, tuple(h0), xs)
    return ops.moveaxis(h_re, 0, 1), ops.moveaxis(h_im, 0, 1)


# How the parallel forms solve their recurrence: "sequential" (an elementwise
# scan after the projections) or "two_level". `make bench`'s long-sequence
# section times them (`benchmarks/long.py --methods sequential,two_level`):
# for minGRU on a 2-core CPU at T = 1000, 148 ms against 1651 ms per training
# step (XLA:CPU runs the two-level form's many small elementwise operations
# one by one), and the LRU's two-level form took over ten minutes to compile.
METHODS = {"sequential": (sequential_linear_recurrence, sequential_complex_linear_recurrence),
           "two_level": (two_level_linear_recurrence, two_level_complex_linear_recurrence)}
METHOD = "sequential"


def linear_recurrence(a, b, h0, method: str | None = None):
    """All h_t of h_t = a_t ⊙ h_{t-1} + b_t, t = 1..T, elementwise.

    ``a`` and ``b``: (batch, T, n); ``h0``: (batch, n). Returns (batch, T, n).
    ``method``: a key of ``METHODS``, default ``METHOD``.
    """
    return METHODS[method or METHOD][0](a, b, h0)


def complex_linear_recurrence(a, b, h0, method: str | None = None):
    """``linear_recurrence`` for complex numbers held as (real, imaginary) pairs.

    ``a`` = (a_re, a_im), each broadcastable to (batch, T, n) (the LRU's λ is one
    constant per unit); ``b`` = (b_re, b_im), each (batch, T, n); ``h0`` = (h_re,
    h_im), each (batch, n). Returns (h_re, h_im), each (batch, T, n).
    """
    return METHODS[method or METHOD][1](a, b, h0)
