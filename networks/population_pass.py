"""A population of networks of one architecture evaluated as a few large matrix products per layer.

:func:`compile_population` walks a module made of the layers :class:`networks.resnet.DeepResNet`
uses (``Conv1d``, ``BatchNorm1d``, ``Linear``, ``ReLU``, ``AdaptiveAvgPool1d(1)``, ``Flatten``,
``Identity``, ``Dropout``, ``nn.Sequential``, :class:`~networks.resnet.ResidualBlock` and
``DeepResNet`` itself, matched by exact type so that an overridden ``forward`` is never guessed)
and returns a :class:`PopulationProgram`, or raises :class:`Unsupported` naming what it cannot take.

Layout: an activation of a chunk of ``p`` members is one contiguous tensor ``(p, C*L, B)``:
members, then features (channel-major, position-minor, so ``Flatten`` is free), then examples
last. Hence every layer is one batched product with the members as batch dimension:

* ``Conv1d`` over a short signal (``L <= DENSE_MAX_LENGTH``) reading few channels is a dense banded
  (Toeplitz) matrix ``(C_out*L_out, C_in*L)`` per member, applied by one ``bmm`` of good GEMM shape;
  the matrix lives in a zero buffer kept per thread, and a call writes only its ``k`` diagonals.
  It multiplies the zeros of the band too (``L/k`` times the network's own FLOPs), which pays where
  ``K = C_in`` is small. Otherwise (by the cost rule of ``TAP_*``, and for any longer signal) it is
  one product per kernel tap on views of the input, each adding into the output positions it
  reaches (no im2col copy; only a shared input is padded). A 1x1 convolution is one product.
* ``Linear`` is one ``baddbmm``; a layer reading the shared input is one ``mm`` over all members.
* ``BatchNorm1d`` in population mode normalizes each member's channel over all its examples and
  positions: the rows of the ``(p*C, L*B)`` view, with sum and norm reductions (torch's Welford
  batch-norm kernel is several times slower here); its scale and shift are left pending and applied
  in place by the next op, or fused by a residual block with the shortcut's and the sum and ReLU.

Memory: the program runs on chunks of whole members (:meth:`PopulationProgram.bytes_per_member`),
so batch-norm statistics are always those of the member's whole batch: chunking is over members
only, never over examples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from networks.resnet import DeepResNet, ResidualBlock
from networks.workspace import baddbmm, bmm, mm

__all__ = ["DENSE_MAX_LENGTH", "PopulationProgram", "Unsupported", "compile_population", "network_flops"]

DENSE_MAX_LENGTH = 16  # convolutions over at most this many positions use the dense banded matrix
# ... except where k products of K = c_in (one per kernel tap, on shifted views) beat the band's one
# product that does L/k times the work: cost rule measured on this Xeon (9 positions, k = 3, ~8 MB
# chunks), banded/per-tap time 16->16 channels 2.5 at batch 32, 1.2 at 2,048; 8->8: 1.5 at 32, 0.66 at 2,048
TAP_MIN_CHANNELS = 16  # a layer reading at least this many channels runs per tap at every batch,
TAP_MAX_BATCH = 96  # and one reading at least TAP_SMALL_CHANNELS up to this batch
TAP_SMALL_CHANNELS = 4  # (below: the stem's 1 channel, K = 1 products, stays banded)
LIVE_ACTIVATIONS = 5  # activations of the widest layer alive at once in a residual block (x, two
# branch outputs, the shortcut, a padded copy); the per-member memory estimate counts this many


_BANDS = threading.local()  # per thread: (device, dtype, geometry) -> zero buffer of banded matrices


class Unsupported(Exception):
    """The module is not made of the layers the population pass compiles; the message says why."""


@dataclass
class _State:
    """An activation: ``(p, C*L, B)``, or ``(C*L, B)`` while still shared by every member."""

    h: torch.Tensor
    channels: int
    length: int | None  # None: flat features (after Flatten / pooling), read by Linear
    shared: bool
    owned: bool  # may be modified in place
    affine: tuple[torch.Tensor, torch.Tensor] | None = None  # batch norm's (scale, shift), (p*C, 1) each,
    # not yet applied: the value is h * scale + shift per member channel (see _settle)

    @property
    def features(self) -> int:
        return self.channels * (self.length or 1)


Params = dict[int, torch.Tensor]  # id(parameter) -> (p, *shape) view of the chunk's flat weights
Op = Callable[[_State, Params], _State]


def _settle(state: _State) -> _State:
    """Apply a pending batch-norm affine in place: ``mul_`` then ``add_`` (two passes over a chunk
    in cache, each vectorized; ``addcmul`` with two broadcast operands is 3x slower on the CPU)."""
    if state.affine is None:
        return state
    scale, shift = state.affine
    z = state.h.view(scale.shape[0], -1)
    z.mul_(scale).add_(shift)
    return _State(state.h, state.channels, state.length, state.shared, state.owned)


def _member(state: _State, p: int) -> _State:
    state = _settle(state)
    if not state.shared:
        return state
    h = state.h.unsqueeze(0).expand(p, *state.h.shape).contiguous()
    return _State(h, state.channels, state.length, False, True)


class _Builder:
    """Walks a module once with symbolic shapes, emitting closures and counting memory and FLOPs."""

    def __init__(self, module: nn.Module):
        self.ids = {id(p) for p in module.parameters()}
        self.ops: list[Op] = []
        self.max_features = 1
        self.weight_elems = 0  # per member: dense matrices gathered from kernels
        self.macs = 0  # the network's own multiply-adds per example (2*MACs = FLOPs)

    def _param(self, t: torch.Tensor | None, where: str) -> int | None:
        if t is None:
            return None
        if id(t) not in self.ids:
            raise Unsupported(f"{where} is not a parameter of the module")
        return id(t)

    def _see(self, channels: int, length: int | None) -> None:
        self.max_features = max(self.max_features, channels * (length or 1))

    # each emit_* takes the symbolic (channels, length) and returns the output's, appending ops
    def emit(self, m: nn.Module, shape: tuple[int, int | None], ops: list[Op]) -> tuple[int, int | None]:
        kind = type(m)
        if kind is DeepResNet:
            return self._deep_resnet(m, shape, ops)
        if kind is ResidualBlock:
            return self._residual(m, shape, ops)
        if kind is nn.Sequential:
            for child in m:
                shape = self.emit(child, shape, ops)
            return shape
        if kind is nn.Conv1d:
            return self._conv(m, shape, ops)
        if kind is nn.BatchNorm1d:
            return self._batch_norm(m, shape, ops)
        if kind is nn.Linear:
            return self._linear(m, shape, ops)
        if kind is nn.ReLU:
            ops.append(_relu)
            return shape
        if kind in (nn.Identity, nn.Dropout):  # population mode is eval mode: dropout is the identity
            return shape
        if kind is nn.AdaptiveAvgPool1d:
            size = m.output_size if isinstance(m.output_size, int) else m.output_size[0]
            if size != 1 or shape[1] is None:
                raise Unsupported(f"AdaptiveAvgPool1d({m.output_size}) on {shape}: only output size 1 of a signal")
            ops.append(_avg_pool)
            return shape[0], 1
        if kind is nn.Flatten:
            if m.start_dim != 1 or m.end_dim != -1:
                raise Unsupported(f"Flatten({m.start_dim}, {m.end_dim}): only Flatten(1, -1)")
            ops.append(_flatten)
            return shape[0] * (shape[1] or 1), None
        raise Unsupported(f"layer {kind.__name__}")

    def _deep_resnet(self, m: DeepResNet, shape, ops):
        if shape != (1, m.in_features):
            raise Unsupported(f"DeepResNet expects (batch, {m.in_features}) input, got features {shape}")
        shape = self.emit(m.stem, shape, ops)
        shape = self.emit(m.blocks, shape, ops)
        shape = self.emit(m.pool, shape, ops)
        ops.append(_flatten)  # forward's .flatten(-2)
        return self.emit(m.head, (shape[0] * shape[1], None), ops)

    def _residual(self, m: ResidualBlock, shape, ops):
        branch: list[Op] = []
        out = shape
        for layer in (m.conv1, m.bn1, nn.ReLU(), m.conv2, m.bn2):
            out = self.emit(layer, out, branch)
        short: list[Op] = []
        s_out = self.emit(m.shortcut, shape, short)
        if s_out != out:
            raise Unsupported(f"ResidualBlock branch gives {out} but the shortcut {s_out}")

        def block(state: _State, params: Params) -> _State:
            p = params["_p"]
            x = _State(state.h, state.channels, state.length, state.shared, False)  # read twice
            y = _run(branch, x, params)  # ends in batch norm: its affine still pending
            s = _run(short, x, params)  # may still be shared (identity of the input): broadcasts
            if y.affine is None:
                s = _settle(s)
                y = _member(y, p)
                h = y.h if y.owned else y.h.clone()
                hv = h.view(p, y.channels, -1)
            else:  # relu(h*scale + (shift [+ shift_s]) [+ h_s*scale_s | + x]): one pass per op
                h = y.h
                scale, shift = y.affine
                if s.affine is not None:
                    shift = shift + s.affine[1]
                hv = h.view(p, y.channels, -1)
                hv.mul_(scale.view(p, -1, 1)).add_(shift.view(p, -1, 1))
            if s.affine is not None:
                hv.add_(s.h.view(p, s.channels, -1).mul_(s.affine[0].view(p, -1, 1)))  # s.h is BN's own
            else:
                hv.add_(s.h.view(*s.h.shape[:-2], s.channels, -1))
            return _State(h.relu_(), y.channels, y.length, False, True)

        block.takes_affine = True  # type: ignore[attr-defined]
        ops.append(block)
        return out

    def _conv(self, m: nn.Conv1d, shape, ops):
        c_in, length = shape
        if length is None:
            raise Unsupported("Conv1d after Flatten")
        if m.groups != 1 or m.dilation != (1,) or m.stride != (1,) or m.padding_mode != "zeros" \
                or isinstance(m.padding, str) or c_in != m.in_channels:
            raise Unsupported(f"Conv1d{(m.in_channels, m.out_channels, m.kernel_size)} with groups/dilation/"
                              f"stride/padding mode/string padding or {c_in} input channels")
        k, pad, c_out = m.kernel_size[0], m.padding[0], m.out_channels
        l_out = length + 2 * pad - k + 1
        if l_out < 1:
            raise Unsupported(f"Conv1d kernel {k} longer than the padded signal ({length} positions)")
        wid, bid = self._param(m.weight, "Conv1d.weight"), self._param(m.bias, "Conv1d.bias")
        self.macs += c_out * c_in * k * l_out
        self._see(c_out, l_out)
        self._see(c_in, length + 2 * pad)
        if k == 1 and pad == 0:
            ops.append(_pointwise_conv(wid, bid, c_in, c_out, length))
        elif length <= DENSE_MAX_LENGTH:
            self.weight_elems += c_out * l_out * c_in * length
            dense = _dense_conv(wid, bid, c_in, c_out, k, pad, length, l_out)
            tap = _tap_conv(wid, bid, c_in, c_out, k, pad, length, l_out)
            if c_in >= TAP_MIN_CHANNELS:
                ops.append(tap)
            elif c_in >= TAP_SMALL_CHANNELS:
                ops.append(_by_batch(tap, dense))
            else:
                ops.append(dense)
        else:
            ops.append(_tap_conv(wid, bid, c_in, c_out, k, pad, length, l_out))
        return c_out, l_out

    def _batch_norm(self, m: nn.BatchNorm1d, shape, ops):
        if shape[0] != m.num_features:
            raise Unsupported(f"BatchNorm1d({m.num_features}) on {shape[0]} channels")
        wid = self._param(m.weight, "BatchNorm1d.weight") if m.affine else None
        bid = self._param(m.bias, "BatchNorm1d.bias") if m.affine else None
        eps = float(m.eps)

        def batch_norm(state: _State, params: Params) -> _State:
            p = params["_p"]
            state = _member(state, p)
            h = state.h if state.owned else state.h.clone()
            z = h.view(p * state.channels, -1)
            n = z.shape[1]
            mean = z.sum(1, keepdim=True).div_(n)
            var = torch.linalg.vector_norm(z, dim=1, keepdim=True).square_().div_(n).sub_(mean.square())
            risky = mean.square() > 1e3 * var  # one-pass variance loses digits there: redo exactly
            if bool(risky.any()):
                rows = risky.view(-1).nonzero().view(-1)
                var[rows] = (z[rows] - mean[rows]).square().mean(1, keepdim=True)
            scale = torch.rsqrt(var.clamp_min_(0).add_(eps))
            if wid is not None:
                scale.mul_(params[wid].reshape(-1, 1))
            shift = -mean * scale
            if bid is not None:
                shift.add_(params[bid].reshape(-1, 1))
            return _State(h, state.channels, state.length, False, True, (scale, shift))

        ops.append(batch_norm)
        return shape

    def _linear(self, m: nn.Linear, shape, ops):
        if shape[1] is not None or shape[0] != m.in_features:
            raise Unsupported(f"Linear({m.in_features}, {m.out_features}) on features {shape}")
        wid, bid = self._param(m.weight, "Linear.weight"), self._param(m.bias, "Linear.bias")
        self.macs += m.in_features * m.out_features
        self._see(m.out_features, None)
        out_f = m.out_features

        def linear(state: _State, params: Params) -> _State:
            p = params["_p"]
            w = params[wid]
            if state.shared:
                h = mm(w.reshape(p * out_f, -1), state.h).view(p, out_f, -1)
                if bid is not None:
                    h.add_(params[bid].unsqueeze(-1))
            elif bid is not None:
                h = baddbmm(params[bid].unsqueeze(-1), w, state.h)
            else:
                h = bmm(w, state.h)
            return _State(h, out_f, None, False, True)

        ops.append(linear)
        return out_f, None


def _run(ops: list[Op], state: _State, params: Params) -> _State:
    """Run ``ops``; a pending batch-norm affine is applied before an op that does not take it (a
    residual block takes its branch's and shortcut's, fusing them with the sum and ReLU), and the
    last op's may be left pending for the caller."""
    for op in ops:
        if state.affine is not None and not getattr(op, "takes_affine", False):
            state = _settle(state)
        state = op(state, params)
    return state


def _relu(state: _State, params: Params) -> _State:
    h = state.h.relu_() if state.owned else torch.relu(state.h)
    return _State(h, state.channels, state.length, state.shared, True)


def _avg_pool(state: _State, params: Params) -> _State:
    h = state.h
    shape = (state.channels, state.length, -1) if state.shared else (h.shape[0], state.channels, state.length, -1)
    return _State(h.view(shape).mean(-2), state.channels, 1, state.shared, True)


def _flatten(state: _State, params: Params) -> _State:
    return _State(state.h, state.features, None, state.shared, state.owned)


def _dense_conv(wid: int, bid: int | None, c_in: int, c_out: int, k: int, pad: int, length: int,
                l_out: int) -> Op:
    """The banded matrix of each member is written into a zero buffer kept per thread (shared by the
    layers of one geometry, which run one after another): its zeros never change, so a call writes
    only the ``k`` diagonals of the band, one strided copy per tap (``k * c_out * c_in * l_out``
    entries a member, not the whole matrix)."""
    geometry = (c_out, l_out, c_in, length, k, pad)
    taps = [(t, t - pad) for t in range(k) if -l_out < t - pad < length]

    def conv(state: _State, params: Params) -> _State:
        p = params["_p"]
        w = params[wid]  # (p, c_out, c_in, k)
        buffers = _BANDS.__dict__.setdefault("buffers", {})
        key = (w.device, w.dtype, geometry)
        buf = buffers.get(key)
        if buf is None or buf.shape[0] < p:
            buf = buffers[key] = w.new_zeros(p, c_out, l_out, c_in, length)
        t_ = buf[:p]
        for t, offset in taps:
            d = torch.diagonal(t_, offset=offset, dim1=2, dim2=4)  # (p, c_out, c_in, n)
            d.copy_(w[..., t].unsqueeze(-1).expand_as(d))
        t_ = t_.view(p, c_out * l_out, c_in * length)
        if state.shared:
            h = mm(t_.view(p * c_out * l_out, -1), state.h).view(p, c_out * l_out, -1)
        else:
            h = bmm(t_, state.h)
        if bid is not None:
            h.view(p, c_out, -1).add_(params[bid].unsqueeze(-1))
        return _State(h, c_out, l_out, False, True)

    return conv


def _pointwise_conv(wid: int, bid: int | None, c_in: int, c_out: int, length: int) -> Op:
    """A 1x1 convolution: one product of the ``(c_out, c_in)`` kernel with the ``(c_in, L*B)`` view."""

    def conv(state: _State, params: Params) -> _State:
        p = params["_p"]
        w = params[wid].view(p, c_out, c_in)
        if state.shared:
            h = mm(w.reshape(p * c_out, c_in), state.h.view(c_in, -1)).view(p, c_out * length, -1)
        else:
            h = bmm(w, state.h.view(p, c_in, -1)).view(p, c_out * length, -1)
        if bid is not None:
            h.view(p, c_out, -1).add_(params[bid].unsqueeze(-1))
        return _State(h, c_out, length, False, True)

    return conv


def _by_batch(small: Op, large: Op) -> Op:
    """``small`` at batches up to :data:`TAP_MAX_BATCH`, else ``large``."""

    def conv(state: _State, params: Params) -> _State:
        return (small if state.h.shape[-1] <= TAP_MAX_BATCH else large)(state, params)

    return conv


def _tap_conv(wid: int, bid: int | None, c_in: int, c_out: int, k: int, pad: int, length: int, l_out: int) -> Op:
    spans = [(t, max(0, pad - t), min(l_out, length + pad - t)) for t in range(k)]  # output positions per tap
    spans = [(t, lo0, lo1) for t, lo0, lo1 in spans if lo1 > lo0]

    def conv(state: _State, params: Params) -> _State:
        p = params["_p"]
        w = params[wid].permute(0, 3, 1, 2).contiguous()  # (p, k, c_out, c_in): each tap's kernel contiguous
        # (a strided kernel sends bmm down a slow per-member path)
        if state.shared:
            x = state.h.view(c_in, length, -1)
            x = F.pad(x, (0, 0, pad, pad)) if pad else x
            b = x.shape[-1]
            h = None
            for t in range(k):
                wt = w[:, t].reshape(p * c_out, c_in)
                xt = x[:, t:t + l_out].reshape(c_in, l_out * b)
                h = mm(wt, xt) if h is None else h.addmm_(wt, xt)
            h = h.view(p, c_out * l_out, b)
        else:  # no padded copy: tap t adds into the output positions whose input lo + t - pad exists
            x = state.h.view(p, c_in, length, -1)
            b = x.shape[-1]
            full = [t for t, lo0, lo1 in spans if lo0 == 0 and lo1 == l_out]
            if full:
                h = bmm(w[:, full[0]], x[:, :, full[0] - pad:full[0] - pad + l_out].reshape(p, c_in, -1))
            else:
                h = x.new_zeros(p, c_out, l_out * b)
            hv = h.view(p, c_out, l_out, b)
            for t, lo0, lo1 in spans:
                if full and t == full[0]:
                    continue
                xt = x[:, :, lo0 + t - pad:lo1 + t - pad].view(p, c_in, -1)  # (positions, examples) merge
                hv[:, :, lo0:lo1].view(p, c_out, -1).baddbmm_(w[:, t], xt)
            h = h.view(p, c_out * l_out, b)
        if bid is not None:
            h.view(p, c_out, -1).add_(params[bid].unsqueeze(-1))
        return _State(h, c_out, l_out, False, True)

    return conv


class PopulationProgram:
    """A compiled module: :meth:`logits` of a chunk of members, and its memory and FLOP counts."""

    kind = "compiled"

    def __init__(self, module: nn.Module, input_shape: tuple[int, int | None]):
        builder = _Builder(module)
        out = builder.emit(module, input_shape, builder.ops)
        if out[1] is not None:
            raise Unsupported(f"the module's output is a signal {out}, not (batch, outputs)")
        self.ops = builder.ops
        self.input_shape = input_shape
        self.n_outputs = out[0]
        self.max_features = builder.max_features
        self.weight_elems = builder.weight_elems
        self.macs_per_example = builder.macs
        params = list(module.named_parameters())
        self._layout: list[tuple[int, int, int, torch.Size]] = []
        offset = 0
        for _, t in params:
            self._layout.append((id(t), offset, t.numel(), t.shape))
            offset += t.numel()
        self.flat_size = offset

    def bytes_per_member(self, batch: int, itemsize: int) -> int:
        """Estimated peak bytes one member adds at ``batch`` examples: ``LIVE_ACTIVATIONS`` copies of
        the widest activation, the gathered dense weights, and the loss's ``(batch, outputs)`` temporaries."""
        elems = batch * (LIVE_ACTIVATIONS * self.max_features + 4 * self.n_outputs) + 2 * self.weight_elems
        return int(elems * itemsize)

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(p, B, outputs)`` of ``p`` members on the examples ``x (B, ...)`` (the layout of
        :class:`networks.fx_pass.FxProgram`)."""
        return self.logits(weights, x.reshape(len(x), -1).t().contiguous())

    def logits(self, weights: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """Logits ``(p, B, outputs)`` of ``p`` members (rows of ``weights``) on ``x_t`` ``(features, B)``."""
        return self.logits_t(weights, x_t).transpose(1, 2)

    def logits_t(self, weights: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """Logits ``(p, outputs, B)``, contiguous (the pass's own layout)."""
        p = weights.shape[0]
        params: Params = {"_p": p}  # type: ignore[dict-item]
        for pid, offset, n, shape in self._layout:
            params[pid] = weights[:, offset:offset + n].reshape(p, *shape)
        c, length = self.input_shape
        state = _State(x_t, c, length, True, False)
        state = _member(_run(self.ops, state, params), p)  # _member settles a pending affine
        return state.h


def compile_population(module: nn.Module, x_shape: tuple[int, ...]) -> PopulationProgram:
    """Compile ``module`` for inputs of shape ``x_shape`` (``(B, F)`` or ``(B, C, L)``); raises
    :class:`Unsupported` when it is not made of the supported layers."""
    if len(x_shape) == 2:
        shape: tuple[int, int | None] = (1, x_shape[1]) if type(module) is DeepResNet else (x_shape[1], None)
    elif len(x_shape) == 3:
        shape = (x_shape[1], x_shape[2])
        if type(module) is DeepResNet and x_shape[1] != 1:
            raise Unsupported(f"DeepResNet input with {x_shape[1]} channels")
    else:
        raise Unsupported(f"input of {len(x_shape)} dimensions")
    return PopulationProgram(module, shape)


def network_flops(module: nn.Module, x_shape: tuple[int, ...]) -> int:
    """FLOPs (2 * multiply-adds of the convolutions and linear layers) of one forward of one example."""
    return 2 * compile_population(module, x_shape).macs_per_example
