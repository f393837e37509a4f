"""The population pass for the networks people write: a module traced by ``torch.fx``, run for a chunk of members.

:func:`compile_fx` traces a module (an ``nn.Module`` subclass, an ``nn.Sequential``, nested ones) with
``torch.fx.symbolic_trace`` and turns its graph into a :class:`FxProgram`: one step per node, in which
every value that depends on the weights carries the members as a leading dimension ``(p, B, ...)``
(``B`` examples, then the module's own shape) and every value that does not (the input, its shape,
constants) is computed once, as the module would. Hence each layer is one batched product:

* ``Linear`` on the shared input is one ``mm`` of the input with all members' weights side by side
  (``(B, F) x (F, p*out)``; the result is read as ``(p, B, out)`` through a transposed view, no copy),
  on a member value one ``baddbmm`` with the members as the batch dimension;
* ``Conv1d``/``Conv2d``, ``BatchNorm1d``/``2d`` and pooling fold the members into the channels,
  ``(B, p*C, ...)`` (the transposed view of the ``(p, B, C, ...)`` value, free when it came from a
  previous folded layer): a convolution is one grouped convolution (``groups = p``; on the shared
  input one plain convolution with the ``p*C_out`` kernels stacked), batch norm in training mode
  normalizes each member's channel over its own examples (population mode), pooling is per channel;
* activations, arithmetic, residual sums, ``torch.cat``, views and reshapes run on the batched
  tensors directly, dimension arguments shifted by the members' dimension.

Anything else (a layer or function not listed in :data:`ELEMENTWISE` / the handlers, control flow on
traced values, more than one input) raises :class:`~networks.population_pass.Unsupported` with the
reason, and the caller falls back to ``torch.vmap``. Every compiled program is checked once against
the module's own forward (``torch.func.functional_call`` in population mode, two members on a probe
batch), so a trace that would compute something else is refused rather than trusted.

Memory: the same probe measures, per member and example, the widest value and the peak of the
values alive at once (each freed after its last use), which :meth:`FxProgram.bytes_per_member` turns
into the chunk size of :func:`networks.population.members_per_chunk`.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable

import torch
from torch import fx, nn
from torch.func import functional_call
from torch.nn import functional as F

from networks.population_pass import Unsupported
from networks.workspace import baddbmm, bmm, mm

__all__ = ["ELEMENTWISE", "FxProgram", "compile_fx"]

# layers that act elementwise (or per example along the last dimensions) and hold no parameters:
# called as they are on the (p, B, ...) tensor
ELEMENTWISE_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.ELU, nn.SELU, nn.CELU, nn.SiLU, nn.Mish,
    nn.Softplus, nn.Softsign, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid, nn.LogSigmoid, nn.Tanhshrink,
)
IDENTITY_MODULES = (nn.Identity, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout)  # population mode: eval
POOLING = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
           nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)
ELEMENTWISE: set = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.neg, operator.pow, operator.iadd,
    operator.imul, operator.isub, operator.itruediv,
    torch.add, torch.sub, torch.mul, torch.div, torch.neg, torch.pow, torch.relu, torch.tanh, torch.sigmoid,
    torch.exp, torch.log, torch.abs, torch.sqrt, torch.square, torch.clamp, torch.sin, torch.cos, torch.maximum,
    torch.minimum, torch.where,
    F.relu, F.relu6, F.leaky_relu, F.gelu, F.elu, F.selu, F.celu, F.silu, F.mish, F.softplus, F.softsign,
    F.hardtanh, F.hardswish, F.hardsigmoid, F.logsigmoid, F.tanhshrink, F.sigmoid, F.tanh,
    F.pad,  # pads the last dimensions: the members and examples lead
}
ELEMENTWISE_METHODS = {
    "add", "sub", "mul", "div", "neg", "pow", "relu", "relu_", "tanh", "tanh_", "sigmoid", "sigmoid_", "exp", "log",
    "abs", "sqrt", "square", "clamp", "clamp_min", "clamp_max", "sin", "cos", "add_", "mul_", "sub_", "div_",
    "contiguous", "clone", "float", "double", "to", "type_as",
}
IN_PLACE_OPERATORS = {operator.iadd, operator.imul, operator.isub, operator.itruediv}  # return their input
IN_PLACE_UNARY = {F.relu: torch.relu_, torch.relu: torch.relu_, "relu": torch.relu_, torch.tanh: torch.tanh_,
                  F.tanh: torch.tanh_, "tanh": torch.tanh_, torch.sigmoid: torch.sigmoid_, F.sigmoid: torch.sigmoid_,
                  "sigmoid": torch.sigmoid_}
IN_PLACE_BINARY = {operator.add: ("add_", True), torch.add: ("add_", True), "add": ("add_", True),
                   operator.mul: ("mul_", True), torch.mul: ("mul_", True), "mul": ("mul_", True),
                   operator.sub: ("sub_", False), torch.sub: ("sub_", False), "sub": ("sub_", False),
                   operator.truediv: ("div_", False), torch.div: ("div_", False), "div": ("div_", False)}
DIM_FUNCTIONS = {torch.flatten: ("start_dim", "end_dim"), torch.softmax: ("dim",), torch.log_softmax: ("dim",),
                 F.softmax: ("dim",), F.log_softmax: ("dim",), torch.mean: ("dim",), torch.sum: ("dim",),
                 torch.unsqueeze: ("dim",), torch.squeeze: ("dim",), torch.amax: ("dim",),
                 torch.transpose: ("dim0", "dim1"), torch.unflatten: ("dim",), F.normalize: ("dim",)}
DIM_METHODS = {"flatten": ("start_dim", "end_dim"), "softmax": ("dim",), "log_softmax": ("dim",), "mean": ("dim",),
               "sum": ("dim",), "unsqueeze": ("dim",), "squeeze": ("dim",), "amax": ("dim",),
               "transpose": ("dim0", "dim1"), "unflatten": ("dim",)}
PROBE_ROWS = 3


class _M:
    """A value that depends on the weights: ``t`` is ``(p, B, ...)`` (any strides)."""

    __slots__ = ("t",)

    def __init__(self, t: torch.Tensor):
        self.t = t


class _W:
    """A parameter read by a ``get_attr`` node: ``t`` is ``(p, *shape)``."""

    __slots__ = ("t",)

    def __init__(self, t: torch.Tensor):
        self.t = t


def _has(value, kind) -> bool:
    if isinstance(value, kind):
        return True
    if isinstance(value, (list, tuple)):
        return any(_has(v, kind) for v in value)
    if isinstance(value, dict):
        return any(_has(v, kind) for v in value.values())
    return False


def _raw(value, p: int | None = None):
    """The tensors inside ``value``; with ``p``, a shared tensor is broadcast to ``p`` members (a view)."""
    if isinstance(value, (_M, _W)):
        return value.t
    if isinstance(value, (list, tuple)):
        return type(value)(_raw(v, p) for v in value)
    if p is not None and isinstance(value, torch.Tensor):
        return value.unsqueeze(0).expand(p, *value.shape)
    return value


def _shift(d):
    """A dimension of the module's value as a dimension of the batched one (a negative one is unchanged)."""
    if isinstance(d, (list, tuple)):
        return type(d)(_shift(v) for v in d)
    return d + 1 if isinstance(d, int) and d >= 0 else d


def _fold(t: torch.Tensor) -> torch.Tensor:
    """``(p, B, C, ...)`` -> ``(B, p*C, ...)``: the members as groups of channels (free for a folded layer's output)."""
    return t.transpose(0, 1).reshape(t.shape[1], t.shape[0] * t.shape[2], *t.shape[3:])


def _unfold(t: torch.Tensor, p: int) -> torch.Tensor:
    return t.view(t.shape[0], p, t.shape[1] // p, *t.shape[2:]).transpose(0, 1)


Step = Callable[[tuple, dict, dict], object]  # (args, kwargs, env) -> value


class FxProgram:
    """A traced module for a chunk of members: :meth:`outputs` ``(p, B, ...)`` and its memory per member."""

    kind = "fx"

    def __init__(self, module: nn.Module, x_shape: tuple[int, ...]):
        try:
            graph = fx.symbolic_trace(module).graph
        except Exception as exc:  # control flow on traced values, unsupported Python
            raise Unsupported(f"torch.fx cannot trace it ({type(exc).__name__}: {_first_line(exc)})") from None
        self.module = module
        self.input_shape = tuple(x_shape[1:])
        params = list(module.named_parameters())
        self._slices: dict[int, tuple[int, int, torch.Size]] = {}
        offset = 0
        for _, t in params:
            self._slices[id(t)] = (offset, t.numel(), t.shape)
            offset += t.numel()
        self.flat_size = offset
        self._names = [n for n, _ in params]
        nodes = list(graph.nodes)
        index = {node: i for i, node in enumerate(nodes)}
        last: dict[int, int] = {}
        for i, node in enumerate(nodes):
            for used in node.all_input_nodes:
                last[index[used]] = i
        self._free = [[j for j, k in last.items() if k == i] for i in range(len(nodes))]
        self._steps: list[tuple[Step, tuple, dict]] = []
        self._output: int | None = None
        inputs = 0
        modules = dict(module.named_modules())
        for node in nodes:
            args = fx.node.map_arg(node.args, lambda n: _Ref(index[n]))
            kwargs = fx.node.map_arg(node.kwargs, lambda n: _Ref(index[n]))
            if node.op == "placeholder":
                inputs += 1
                if inputs > 1:
                    raise Unsupported(f"forward takes more than one input ({node.target})")
                step = _as_view(_placeholder)
            elif node.op == "get_attr":
                step = self._get_attr(module, node.target)
            elif node.op == "call_module":
                step = self._call_module(modules[node.target], node.target)
            elif node.op == "call_function":
                step = self._call_function(node.target)
            elif node.op == "call_method":
                step = self._call_method(node.target)
            elif node.op == "output":
                self._output = index[node]
                step = _as_view(_output)
            else:  # pragma: no cover - torch.fx has no other op
                raise Unsupported(f"graph node {node.op}")
            self._steps.append((step, args, kwargs))
        self._mutable = _mutable(nodes, index, last, [getattr(st, "view", False) for st, _, _ in self._steps])
        self._probe(module)

    # ------------------------------------------------------------------ compiling nodes

    def _get_attr(self, module: nn.Module, target: str) -> Step:
        value = module
        for part in target.split("."):
            value = getattr(value, part)
        if isinstance(value, nn.Parameter):
            pid = id(value)
            if pid not in self._slices:
                raise Unsupported(f"{target} is not a parameter of the module")
            return lambda args, kwargs, env: _W(env["_params"][pid])
        if isinstance(value, torch.Tensor):
            raise Unsupported(f"buffer {target} read by forward (shared by every member)")
        return lambda args, kwargs, env: value

    def _param(self, t: torch.Tensor | None, where: str) -> int | None:
        if t is None:
            return None
        if id(t) not in self._slices:
            raise Unsupported(f"{where} is not a parameter of the module")
        return id(t)

    def _call_module(self, m: nn.Module, name: str) -> Step:
        kind = type(m)
        if kind in ELEMENTWISE_MODULES:
            return _elementwise(m)
        if kind in IDENTITY_MODULES:
            return _as_view(lambda args, kwargs, env: args[0])
        if kind is nn.Linear:
            return _linear(self._param(m.weight, f"{name}.weight"), self._param(m.bias, f"{name}.bias"),
                           m.in_features, m.out_features)
        if kind in (nn.Conv1d, nn.Conv2d):
            if m.padding_mode != "zeros":
                raise Unsupported(f"{name}: {kind.__name__} with padding_mode={m.padding_mode!r}")
            return _conv(self._param(m.weight, f"{name}.weight"), self._param(m.bias, f"{name}.bias"),
                         F.conv1d if kind is nn.Conv1d else F.conv2d, m.out_channels, m.stride, m.padding,
                         m.dilation, m.groups)
        if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
            return _batch_norm(self._param(m.weight, f"{name}.weight") if m.affine else None,
                               self._param(m.bias, f"{name}.bias") if m.affine else None, float(m.eps))
        if kind is nn.LayerNorm:
            return _layer_norm(self._param(m.weight, f"{name}.weight") if m.weight is not None else None,
                               self._param(m.bias, f"{name}.bias") if m.bias is not None else None,
                               tuple(m.normalized_shape), float(m.eps))
        if kind in POOLING:
            return _per_channel(m)
        if kind in (nn.Softmax, nn.LogSoftmax):
            if m.dim is None:
                raise Unsupported(f"{name}: {kind.__name__} without dim")
            fn = torch.softmax if kind is nn.Softmax else torch.log_softmax
            dim = _shift(m.dim)
            return lambda args, kwargs, env: _M(fn(args[0].t, dim)) if isinstance(args[0], _M) else fn(args[0], m.dim)
        if kind is nn.Flatten:
            start, end = _shift(m.start_dim), _shift(m.end_dim)
            return _as_view(_on_member(m, lambda t: t.flatten(start, end)))
        if kind is nn.Unflatten:
            dim = _shift(m.dim)
            return _as_view(_on_member(m, lambda t: t.unflatten(dim, m.unflattened_size)))
        if any(True for _ in m.parameters(recurse=False)) or any(True for _ in m.buffers(recurse=False)):
            raise Unsupported(f"layer {kind.__name__} ({name})")
        raise Unsupported(f"layer {kind.__name__} ({name}) is not one the population pass knows")

    def _call_function(self, target) -> Step:
        if target in (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout):  # population mode is eval mode
            return _as_view(lambda args, kwargs, env: args[0])
        if target in ELEMENTWISE:
            return _function(target, target, view=target in IN_PLACE_OPERATORS)
        if target in DIM_FUNCTIONS:
            return _as_view(_dims(target, target, DIM_FUNCTIONS[target]))
        if target in (torch.reshape,):
            return _as_view(_reshape(lambda t, *shape: torch.reshape(t, shape)))
        if target is torch.cat or target is torch.concat:
            return _cat
        if target is getattr:
            return _as_view(_getattr)
        if target is operator.getitem:
            return _as_view(_getitem)
        if target is F.linear:
            return _functional_linear
        shared_only = getattr(target, "__name__", repr(target))

        def step(args, kwargs, env):
            if _has(args, (_M, _W)) or _has(kwargs, (_M, _W)):
                raise Unsupported(f"function {shared_only} on a value that depends on the weights")
            return target(*args, **kwargs)
        return step

    def _call_method(self, name: str) -> Step:
        if name in ELEMENTWISE_METHODS:
            return _function(lambda t, *a, **k: getattr(t, name)(*a, **k), name,
                             view=name.endswith("_") or name in ("contiguous", "to", "float", "double", "type_as"))
        if name in DIM_METHODS:
            return _as_view(_dims(lambda t, *a, **k: getattr(t, name)(*a, **k), name, DIM_METHODS[name]))
        if name in ("view", "reshape"):
            return _as_view(_reshape(lambda t, *shape: t.reshape(*shape)))
        if name == "size":
            return _size
        if name == "dim":
            return lambda args, kwargs, env: args[0].t.dim() - 1 if isinstance(args[0], _M) else args[0].dim()

        def step(args, kwargs, env):
            if _has(args, (_M, _W)) or _has(kwargs, (_M, _W)):
                raise Unsupported(f"method .{name}() on a value that depends on the weights")
            return getattr(args[0], name)(*args[1:], **kwargs)
        return step

    # ------------------------------------------------------------------ running

    def _run(self, weights: torch.Tensor, x: torch.Tensor, track: list | None = None):
        p = weights.shape[0]
        params = {pid: weights[:, o:o + n].reshape(p, *shape) for pid, (o, n, shape) in self._slices.items()}
        env = {"_params": params, "_p": p, "_x": x}
        values: list = [None] * len(self._steps)
        for i, (step, args, kwargs) in enumerate(self._steps):
            a, k = _resolve(args, values), _resolve(kwargs, values)
            env["_own"] = {id(values[j]) for j in self._mutable[i]}
            values[i] = step(a, k, env)
            for j in self._free[i]:
                values[j] = None
            if track is not None:
                track.append(sum(v.t.numel() for v in values if isinstance(v, _M)))
        return values[self._output]

    def outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(p, B, ...)`` of ``p`` members (rows of ``weights``) on the shared input ``x (B, ...)``."""
        out = self._run(weights, x)
        if not isinstance(out, _M):
            if not isinstance(out, torch.Tensor):
                raise Unsupported(f"forward returns {type(out).__name__}, not one tensor")
            return out.unsqueeze(0).expand(weights.shape[0], *out.shape)
        return out.t

    def member_outputs(self, weights: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Outputs ``(p, B, ...)`` of ``p`` members, each on its own inputs: ``x`` is ``(p, B, ...)`` (a policy's
        observations in its own episodes). The same steps as :meth:`outputs`, the input a member value from the
        start; the probe checked only a shared input, so a caller checks this once against ``forward``."""
        out = self._run(weights, _M(x))
        if not isinstance(out, _M):
            raise Unsupported("forward's output does not depend on the weights, or is not one tensor")
        return out.t

    def logits_t(self, weights: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        """:class:`~networks.population_pass.PopulationProgram`'s interface: logits ``(p, outputs, B)``
        of members on ``x_t (features, B)`` (the examples last)."""
        x = x_t.t().reshape(x_t.shape[1], *self.input_shape)
        return self.outputs(weights, x).reshape(weights.shape[0], x_t.shape[1], -1).transpose(1, 2).contiguous()

    def logits(self, weights: torch.Tensor, x_t: torch.Tensor) -> torch.Tensor:
        return self.logits_t(weights, x_t).transpose(1, 2)

    def _probe(self, module: nn.Module) -> None:
        """Run two members on a seeded probe batch; refuse a program that disagrees with ``forward``
        (members given the module's weights and perturbed ones), and measure the memory per member."""
        from networks.population import population_mode

        like = next(iter(module.parameters()))
        gen = torch.Generator().manual_seed(0)
        x = torch.randn((PROBE_ROWS, *self.input_shape), generator=gen, dtype=torch.float64).to(like)
        w0 = torch.cat([t.detach().reshape(-1) for _, t in module.named_parameters()])
        noise = torch.randn(w0.shape, generator=gen, dtype=torch.float64).to(w0)
        W = torch.stack([w0, w0 + 0.1 * noise * (w0.abs().mean() + 1e-3)])
        track: list[int] = []
        try:
            with torch.no_grad():
                out = self._run(W, x, track)
        except Unsupported:
            raise
        except Exception as exc:
            raise Unsupported(f"the traced pass fails on a probe batch ({type(exc).__name__}: "
                              f"{_first_line(exc)})") from None
        if not isinstance(out, _M):
            raise Unsupported("forward's output does not depend on the weights, or is not one tensor")
        shapes = [t.shape for _, t in module.named_parameters()]
        sizes = [t.numel() for _, t in module.named_parameters()]
        with torch.no_grad(), population_mode(module):
            for member in range(2):
                tensors = {n: t.view(s) for n, t, s in zip(self._names, torch.split(W[member], sizes), shapes,
                                                           strict=True)}
                expected = functional_call(module, tensors, (x,))
                got = out.t[member]
                if not isinstance(expected, torch.Tensor) or expected.shape != got.shape:
                    raise Unsupported(f"the traced pass gives shape {tuple(got.shape)}, forward "
                                      f"{tuple(getattr(expected, 'shape', ()))}")
                tol = 1e-9 if like.dtype == torch.float64 else 1e-3
                scale = float(expected.abs().max()) + 1.0
                if not torch.allclose(got, expected, rtol=tol, atol=tol * scale):
                    raise Unsupported("the traced pass disagrees with forward on a probe batch "
                                      f"(max difference {float((got - expected).abs().max()):.3g})")
        per = 2 * PROBE_ROWS
        self.n_outputs = int(out.t[0, 0].numel())
        self.max_features = max(1, max(track) // per)
        self.peak_features = max(1, max(track) // per)  # values alive at once, per member and example
        self.weight_elems = 0
        self.macs_per_example = 0

    def bytes_per_member(self, batch: int, itemsize: int) -> int:
        """Estimated peak bytes one member adds at ``batch`` examples: the values alive at once plus one
        op's temporaries (the widest value again), and the loss's ``(batch, outputs)`` temporaries."""
        return int(batch * (self.peak_features + 2 * self.max_features + 4 * self.n_outputs) * itemsize)


class _Ref:
    __slots__ = ("i",)

    def __init__(self, i: int):
        self.i = i


def _mutable(nodes: list, index: dict, last: dict[int, int], views: list[bool]) -> list[set[int]]:
    """For each node, the inputs it may overwrite: values an op created (not views of others), read
    once by this node, their last reader, with no view of them alive or read by this node either."""
    root = list(range(len(nodes)))
    for i, node in enumerate(nodes):
        if views[i] and node.all_input_nodes:
            root[i] = root[index[node.all_input_nodes[0]]]
    last_ext: dict[int, int] = {}
    for i in range(len(nodes)):
        last_ext[root[i]] = max(last_ext.get(root[i], i), last.get(i, i))
    out: list[set[int]] = []
    for i, node in enumerate(nodes):
        refs = [index[n] for n in _refs((node.args, node.kwargs))]
        roots = [root[j] for j in refs]
        out.append({j for j in refs if not views[j] and root[j] == j and roots.count(j) == 1
                    and last_ext[j] == i})
    return out


def _refs(value) -> list:
    """The graph nodes in ``value``, with repeats (``x + x`` reads ``x`` twice)."""
    if isinstance(value, fx.Node):
        return [value]
    if isinstance(value, (list, tuple)):
        return [n for v in value for n in _refs(v)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _refs(v)]
    if isinstance(value, slice):
        return _refs((value.start, value.stop, value.step))
    return []


def _as_view(step: Step) -> Step:
    """Mark a step whose value may share memory with its first input."""
    step.view = True  # type: ignore[attr-defined]
    return step


def _resolve(value, values: list):
    if isinstance(value, _Ref):
        return values[value.i]
    if isinstance(value, (list, tuple)):
        return type(value)(_resolve(v, values) for v in value)
    if isinstance(value, dict):
        return {k: _resolve(v, values) for k, v in value.items()}
    if isinstance(value, slice):
        return slice(_resolve(value.start, values), _resolve(value.stop, values), _resolve(value.step, values))
    return value


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else ""


def _placeholder(args, kwargs, env):
    return env["_x"]


def _output(args, kwargs, env):
    return args[0]


def _elementwise(m: nn.Module) -> Step:
    """An activation layer; in place (its ``inplace`` form, ``tanh_``, ``sigmoid_``) on a value the node may
    overwrite."""
    if hasattr(m, "inplace"):
        in_place = copy.copy(m)
        in_place.inplace = True
    elif isinstance(m, nn.Tanh):
        in_place = torch.tanh_
    elif isinstance(m, nn.Sigmoid):
        in_place = torch.sigmoid_
    else:
        in_place = m

    def step(args, kwargs, env):
        x = args[0]
        if not isinstance(x, _M):
            return m(x)
        return _M(in_place(x.t) if id(x) in env["_own"] else m(x.t))

    return step


def _function(fn: Callable, name, view: bool = False) -> Step:
    """An elementwise function: members broadcast against shared operands (right-aligned shapes); in
    place on a member value this node may overwrite (:func:`_mutable`) where the op has an in-place form."""
    unary = IN_PLACE_UNARY.get(name)
    binary = IN_PLACE_BINARY.get(name)

    def step(args, kwargs, env):
        if _has(args, _W) or _has(kwargs, _W):
            raise Unsupported(f"{getattr(name, '__name__', name)} on a parameter read directly")
        if not (_has(args, _M) or _has(kwargs, _M)):
            return fn(*args, **kwargs)
        own = env["_own"]
        if kwargs.get("inplace", True) is False:  # F.relu(x) is traced with inplace=False
            kwargs = {k: v for k, v in kwargs.items() if k != "inplace"}
        if not kwargs and own:
            if unary is not None and len(args) == 1 and id(args[0]) in own:
                return _M(unary(args[0].t))
            if binary is not None and len(args) == 2:
                method, commutative = binary
                a, b = args
                for first, other in ((a, b), (b, a)) if commutative else ((a, b),):
                    if isinstance(first, _M) and id(first) in own:
                        o = _raw(other)
                        if not isinstance(o, torch.Tensor) or (o.dtype == first.t.dtype and torch.broadcast_shapes(
                                first.t.shape, o.shape) == first.t.shape):
                            return _M(getattr(first.t, method)(o))
        return _M(fn(*_raw(args), **_raw(kwargs)))

    return _as_view(step) if view else step


def _dims(fn: Callable, name, dim_names: tuple[str, ...]) -> Step:
    """A function whose dimension arguments (positional after the tensor, or by keyword) shift by one."""

    def step(args, kwargs, env):
        if not isinstance(args[0], _M):
            if _has(args, (_M, _W)) or _has(kwargs, (_M, _W)):
                raise Unsupported(f"{getattr(name, '__name__', name)} on a value that depends on the weights")
            return fn(*args, **kwargs)
        if name in ("flatten", torch.flatten) and len(args) == 1 and "start_dim" not in kwargs:
            kwargs = {**kwargs, "start_dim": 0}  # flatten() of everything: the members stay apart
        if name in ("mean", "sum", "amax", torch.mean, torch.sum, torch.amax) and len(args) == 1 \
                and "dim" not in kwargs:
            raise Unsupported(f"{getattr(name, '__name__', name)} over all dimensions of a member value")
        if name in ("squeeze", torch.squeeze) and len(args) == 1 and "dim" not in kwargs:
            raise Unsupported("squeeze() without dim of a member value")
        positional = list(args[1:])
        for i in range(min(len(positional), len(dim_names))):
            positional[i] = _shift(positional[i])
        kwargs = {k: _shift(v) if k in dim_names else v for k, v in kwargs.items()}
        return _M(fn(args[0].t, *positional, **kwargs))
    return step


def _reshape(fn: Callable) -> Step:
    def step(args, kwargs, env):
        if kwargs:
            raise Unsupported("view/reshape with keyword arguments")
        x, shape = args[0], args[1:]
        if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
            shape = tuple(shape[0])
        if not isinstance(x, _M):
            return fn(x, *shape)
        return _M(fn(x.t, x.t.shape[0], *shape))
    return step


def _size(args, kwargs, env):
    x = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim")
    if not isinstance(x, _M):
        return x.size() if dim is None else x.size(dim)
    if dim is None:
        return torch.Size(x.t.shape[1:])
    return x.t.size(_shift(dim))


def _getattr(args, kwargs, env):
    x, name = args
    if isinstance(x, _M):
        if name == "shape":
            return torch.Size(x.t.shape[1:])
        if name == "ndim":
            return x.t.dim() - 1
        if name in ("dtype", "device"):
            return getattr(x.t, name)
        raise Unsupported(f"attribute .{name} of a value that depends on the weights")
    if isinstance(x, _W):
        raise Unsupported(f"attribute .{name} of a parameter read directly")
    return getattr(x, name)


def _getitem(args, kwargs, env):
    x, index = args
    if isinstance(x, _W):
        raise Unsupported("indexing a parameter read directly")
    if not isinstance(x, _M):
        if isinstance(x, (list, tuple)) and _has(x, _M):
            return x[index]
        return x[index]
    index = index if isinstance(index, tuple) else (index,)
    if any(i is Ellipsis or isinstance(i, torch.Tensor) or i is None for i in index) or _has(index, _M):
        raise Unsupported("indexing a member value with ..., None or tensors")
    return _M(x.t[(slice(None), *index)])


def _cat(args, kwargs, env):
    tensors = args[0]
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not _has(tensors, _M):
        return torch.cat(tensors, dim)
    p = next(v.t.shape[0] for v in tensors if isinstance(v, _M))
    return _M(torch.cat(_raw(list(tensors), p), _shift(dim)))


NARROW = 32  # a linear layer with fewer outputs computes (p, out, B): measured 3-5x faster than (p, B, out)
# for 10 outputs (the GEMM's long side is the examples), and no faster from 32 up


def _linear_product(x, w: torch.Tensor, b: torch.Tensor | None) -> _M:
    """``x @ w.T + b`` for every member: ``w (p, out, in)``, ``b (p, out)``; ``x`` shared ``(B, ..., in)`` or
    ``_M (p, B, ..., in)``. Products read contiguous operands (a strided one costs bmm 3x on the CPU).
    A wide layer is ``(p, B, out)``, on the shared input one ``baddbmm`` over the input broadcast to every
    member (a stride-0 batch: no copy); a narrow one (:data:`NARROW`) ``(p, out, B)``, on the shared input
    one ``mm`` of every member's rows stacked, returned as its transposed view."""
    p, out_f, in_f = w.shape
    member = isinstance(x, _M)
    lead = (x.t.shape[1:-1] if member else x.shape[:-1])
    x3 = x.t.reshape(p, -1, in_f) if member else x.reshape(-1, in_f)
    if x3.stride(-1) != 1 or x3.stride(-2) != in_f:
        x3 = x3.contiguous()
    if out_f < NARROW:
        if member:
            h = bmm(w, x3.transpose(-1, -2))
        else:
            h = mm(w.reshape(p * out_f, in_f), x3.t()).view(p, out_f, -1)
        if b is not None:
            h.add_(b.unsqueeze(-1))
        return _M(h.transpose(1, 2).reshape(p, *lead, out_f))
    if not member:
        x3 = x3.expand(p, *x3.shape)
    h = baddbmm(b.unsqueeze(1), x3, w.transpose(1, 2)) if b is not None else bmm(x3, w.transpose(1, 2))
    return _M(h.view(p, *lead, out_f))


def _linear(wid: int, bid: int | None, in_f: int, out_f: int) -> Step:
    def step(args, kwargs, env):
        params = env["_params"]
        return _linear_product(args[0], params[wid], params[bid] if bid is not None else None)

    return step


def _functional_linear(args, kwargs, env):
    x = args[0]
    w = args[1] if len(args) > 1 else kwargs.get("weight")
    b = args[2] if len(args) > 2 else kwargs.get("bias")
    if not isinstance(w, _W) or (b is not None and not isinstance(b, _W)) or isinstance(x, _W):
        raise Unsupported("F.linear with a weight that is not one of the module's parameters")
    return _linear_product(x, w.t, b.t if b is not None else None)


def _conv(wid: int, bid: int | None, conv: Callable, c_out: int, stride, padding, dilation, groups: int) -> Step:
    """Members folded into the channels. On the shared input a 2-D convolution is one product of all
    members' kernels stacked ``(p*c_out, C*k*k)`` with the input's patches ``(C*k*k, B*L)`` (``F.unfold``,
    once per call), giving ``(p, c_out, B, H', W')`` (measured 2.7x faster than the convolution
    kernel with few input channels); otherwise one convolution, grouped on a member value
    (``groups = p*groups``)."""
    patches = conv is F.conv2d and groups == 1 and not isinstance(padding, str)
    cache: list = [None]  # (shared input, its version, its patches), swapped whole (threads may run chunks):
    # every chunk of one call reads the same input, so F.unfold (a loop over examples on the CPU) runs once a call

    def step(args, kwargs, env):
        params, p = env["_params"], env["_p"]
        x = args[0]
        w = params[wid]
        w = w.reshape(p * c_out, *w.shape[2:])
        b = params[bid].reshape(-1) if bid is not None else None
        if isinstance(x, _M):
            h = conv(_fold(x.t), w, b, stride, padding, dilation, p * groups)
        elif patches and x.dim() == 4:
            k = w.shape[-2:]
            hit = cache[0]
            if hit is not None and hit[0] is x and hit[1] == x._version:
                cols = hit[2]
            else:  # (C*kh*kw, B*L): the patches of every example side by side
                cols = F.unfold(x, k, dilation, padding, stride).transpose(0, 1).reshape(w[0].numel(), -1)
                cache[0] = (x, x._version, cols)
            size = [(n + 2 * pad - d * (kk - 1) - 1) // st + 1
                    for n, pad, d, kk, st in zip(x.shape[-2:], padding, dilation, k, stride, strict=True)]
            h = mm(w.reshape(p * c_out, -1), cols)  # (p*c_out, B*L): one product for every member
            if b is not None:
                h.add_(b.unsqueeze(-1))
            return _M(h.view(p, c_out, x.shape[0], *size).transpose(1, 2))
        else:
            h = conv(x, w, b, stride, padding, dilation, groups)
        return _M(_unfold(h, p))

    return step


def _batch_norm(wid: int | None, bid: int | None, eps: float) -> Step:
    """Population mode: each member's channel normalized over its own examples (and positions)."""

    def step(args, kwargs, env):
        params, p = env["_params"], env["_p"]
        x = args[0]
        t = x.t if isinstance(x, _M) else _raw(x, p)
        w = params[wid].reshape(-1) if wid is not None else None
        b = params[bid].reshape(-1) if bid is not None else None
        return _M(_unfold(F.batch_norm(_fold(t), None, None, w, b, True, 0.0, eps), p))

    return step


def _layer_norm(wid: int | None, bid: int | None, shape: tuple[int, ...], eps: float) -> Step:
    def step(args, kwargs, env):
        params, p = env["_params"], env["_p"]
        x = args[0]
        t = x.t if isinstance(x, _M) else _raw(x, p)
        h = F.layer_norm(t, shape, None, None, eps)
        lead = (1,) * (t.dim() - 1 - len(shape))
        if wid is not None:
            h = h.mul_(params[wid].view(p, *lead, *shape))
        if bid is not None:
            h = h.add_(params[bid].view(p, *lead, *shape))
        return _M(h)

    return step


def _on_member(m: nn.Module, fn: Callable) -> Step:
    return lambda args, kwargs, env: _M(fn(args[0].t)) if isinstance(args[0], _M) else m(args[0])


def _per_channel(m: nn.Module) -> Step:
    """Pooling acts per channel: run it on the members folded into the channels; 2-D pooling in the
    channels-last layout (torch's CPU max pooling over 8x8 maps: 100 ms contiguous, 8-11 ms channels-last)."""

    def step(args, kwargs, env):
        x = args[0]
        if not isinstance(x, _M):
            return m(x)
        t = x.t
        if t.dim() == 5 and t.device.type == "cpu":  # one copy into (B, H, W, p*C), read as channels-last NCHW
            p, b, c, height, width = t.shape
            folded = t.permute(1, 3, 4, 0, 2).contiguous().view(b, height, width, p * c).permute(0, 3, 1, 2)
        else:
            folded = _fold(t)
        return _M(_unfold(m(folded), x.t.shape[0]))

    return step


def compile_fx(module: nn.Module, x_shape: tuple[int, ...]) -> FxProgram:
    """Trace and compile ``module`` for inputs of shape ``x_shape`` (``(B, ...)``); raises
    :class:`~networks.population_pass.Unsupported` naming what it cannot take."""
    if len(x_shape) < 2:
        raise Unsupported(f"input of shape {tuple(x_shape)}: need (batch, ...)")
    if not any(True for _ in module.parameters()):
        raise Unsupported("the module has no parameters")
    return FxProgram(module, tuple(x_shape))
