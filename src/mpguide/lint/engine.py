"""The analysis: one pass over a module's ``ast``, in source order.

The engine tracks what each name holds, as far as the module itself says (a
``Manager()``, a managed dict, a ``multiprocessing.Queue``, a pool, ...), scope
by scope, and reports a pattern only where it knows the objects involved: a
rule never guesses from a name's spelling.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field

from mpguide.lint.rules import RULES

__all__ = ["Finding", "analyse"]

#: Modules whose ``Process``, ``Pool``, ``Queue``, ``Lock``... start or join processes.
MP_MODULES = frozenset(
    {
        "multiprocessing",
        "multiprocessing.pool",
        "multiprocessing.context",
        "multiprocessing.managers",
        "multiprocessing.sharedctypes",
        "torch.multiprocessing",
        "billiard",
        "multiprocess",
    }
)
#: Modules that pickle with dill, which sends a lambda or a nested function by value.
BY_VALUE_MODULES = frozenset({"multiprocess"})
FUTURES_MODULES = frozenset({"concurrent.futures", "concurrent.futures.process"})
SYNC_NAMES = frozenset(
    {"Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier"}
)
QUEUE_NAMES = frozenset({"Queue", "JoinableQueue", "SimpleQueue"})
POOL_METHODS = frozenset(
    {
        "apply",
        "apply_async",
        "map",
        "map_async",
        "imap",
        "imap_unordered",
        "starmap",
        "starmap_async",
        "submit",
    }
)
MUTATORS = frozenset(
    {
        "append",
        "extend",
        "insert",
        "remove",
        "pop",
        "popitem",
        "clear",
        "add",
        "discard",
        "update",
        "setdefault",
        "sort",
        "reverse",
        "appendleft",
        "extendleft",
    }
)
#: Parameters that hold a multiprocessing context by convention (``mp_context`` is
#: ProcessPoolExecutor's own keyword).
CONTEXT_PARAMETERS = frozenset({"ctx", "context", "mp_context"})
QUEUE_NON_READS = frozenset({"close", "join_thread", "cancel_join_thread", "put"})

# What a name holds.
MANAGER = "manager"
CONTEXT = "context"
FORK_CONTEXT = "fork context"  # get_context("fork"): a Process target is not pickled
CONTEXTS = (CONTEXT, FORK_CONTEXT)
MDICT = "managed dict"
MLIST = "managed list"
MNS = "managed Namespace"
PROXY_VALUES = "managed dict or list of proxies"
PROXY_NAMESPACE = "managed Namespace of proxies"
MVALUE = "managed Value"
VALUE = "Value"
ARRAY = "Array"
POOL = "pool"
PROCESS = "process"
QUEUE = "multiprocessing Queue"
SYNC = "multiprocessing lock"
INSTANCE = "instance of "  # + class name
INSTANCES = "list of "  # + class name


@dataclass(frozen=True, order=True)
class Finding:
    line: int
    col: int  # 1-based, as flake8 prints it
    code: str
    message: str


@dataclass
class Scope:
    function: ast.FunctionDef | ast.AsyncFunctionDef | None
    #: A function defined at module level (not a method, not a nested function).
    top_level: bool = False
    names: dict[str, str] = field(default_factory=dict)
    params: set[str] = field(default_factory=set)
    local_defs: dict[str, str] = field(default_factory=dict)  # name -> "function"/"class"
    # For join-before-drain, in source order: (kind, name, node).
    events: list[tuple[str, str, ast.AST]] = field(default_factory=list)
    #: Whether a lock's ``acquire()`` was called earlier in this scope.
    acquired: bool = False
    # A process's name -> the names of the Queues it was given.
    links: dict[str, set[str]] = field(default_factory=dict)


def is_main_guard(node: ast.stmt) -> bool:
    """``if __name__ == "__main__":``, or ``if current_process().name == "MainProcess":``,
    which a child process skips as well."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    if not (
        isinstance(test, ast.Compare)
        and len(test.ops) == 1
        and isinstance(test.ops[0], ast.Eq)
    ):
        return False
    sides = [test.left, test.comparators[0]]
    consts = {s.value for s in sides if isinstance(s, ast.Constant)}
    if any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides):
        return "__main__" in consts
    return "MainProcess" in consts and any(
        isinstance(s, ast.Attribute)
        and s.attr == "name"
        and isinstance(s.value, ast.Call)
        and call_name(s.value.func) == "current_process"
        for s in sides
    )


def call_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def root_name(node: ast.expr) -> str | None:
    """The name an attribute chain starts from, through calls: ``mp`` in
    ``mp.get_context("spawn").Process``."""
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None


@dataclass
class ClassInfo:
    name: str
    identity_equality: bool


def classify_class(node: ast.ClassDef) -> ClassInfo:
    """Whether instances compare by identity: no bases, no __eq__/__hash__, no
    dataclass that makes them compare (and hash) by value."""
    methods = {
        item.name
        for item in node.body
        if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    methods |= {
        target.id
        for item in node.body
        if isinstance(item, ast.Assign)
        for target in item.targets
        if isinstance(target, ast.Name)
    }
    plain_bases = all(dotted(base) == "object" for base in node.bases)
    decorated = any(
        call_name(d.func if isinstance(d, ast.Call) else d) not in {"dataclass"}
        for d in node.decorator_list
    )
    identity = (
        plain_bases
        and not node.keywords
        and not decorated
        and "__eq__" not in methods
        and "__hash__" not in methods
    )
    for decorator in node.decorator_list:
        if call_name(decorator.func if isinstance(decorator, ast.Call) else decorator) == (
            "dataclass"
        ):
            # A dataclass has __eq__; unless frozen (or unsafe_hash) it is unhashable,
            # which fails loudly (TypeError), not as this pitfall.
            identity = False
    return ClassInfo(node.name, identity)


class Analyser(ast.NodeVisitor):
    def __init__(self, facts: Facts) -> None:
        self.findings: list[Finding] = []
        self.mp_modules: set[str] = set()  # local names of multiprocessing modules
        self.futures_modules: set[str] = set()
        self.mp_names: dict[str, str] = {}  # local name -> name in multiprocessing
        #: Local names of, or imported from, a module that pickles by value (dill).
        self.by_value_names: set[str] = set()
        self.uses_processes = facts.uses_processes
        self.classes = facts.classes
        self.scopes: list[Scope] = [Scope(None)]
        self.guard_depth = 0  # inside `if __name__ == "__main__":` at module level
        self.class_depth = 0
        self.returns: dict[str, list[str | None]] = {}
        self.with_exprs: list[ast.expr] = []
        self.values_created = facts.values_created
        self.manager_lock_dicts = facts.manager_lock_dicts
        #: Names of the functions given to a process, pool or executor.
        self.target_names: set[str] = set()
        #: What module-level functions receive, from the calls seen: function name ->
        #: parameter (position or name) -> kind, or None where calls disagree.
        self.argument_kinds: dict[str, dict[int | str, str | None]] = {}
        #: The same, from an earlier pass: what each function's parameters hold.
        self.parameter_kinds: dict[str, dict[int | str, str | None]] = {}

    # -- reporting ----------------------------------------------------------------

    def report(self, node: ast.AST, code: str, detail: str = "") -> None:
        line = getattr(node, "lineno", 1)
        col = getattr(node, "col_offset", 0) + 1
        self.findings.append(Finding(line, col, code, RULES[code].format(detail)))

    # -- scopes and names ---------------------------------------------------------

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    @property
    def at_module_level(self) -> bool:
        return len(self.scopes) == 1 and self.class_depth == 0

    def kind(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.scope.names.get(node.id)
        if isinstance(node, ast.Call):
            return self.call_kind(node)
        return None

    def bind(self, target: ast.expr, kind: str | None) -> None:
        if isinstance(target, ast.Name):
            if kind is None:
                self.scope.names.pop(target.id, None)
            else:
                self.scope.names[target.id] = kind
            self.scope.events.append(("bind", target.id, target))
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self.bind(element, None)

    def local_def(self, node: ast.expr) -> str | None:
        """'function f' or 'class C' when ``node`` names one defined inside a function."""
        if not isinstance(node, ast.Name):
            return None
        for scope in reversed(self.scopes):
            if node.id in scope.local_defs:
                return f"{scope.local_defs[node.id]} {node.id}() defined inside a function"
            if node.id in scope.names or node.id in scope.params:
                return None
        return None

    def is_mp(self, func: ast.expr, names: frozenset[str]) -> str | None:
        """The multiprocessing name ``func`` calls, when it is one of ``names``."""
        if isinstance(func, ast.Name):
            original = self.mp_names.get(func.id)
            return original if original in names else None
        if isinstance(func, ast.Attribute) and func.attr in names:
            receiver = func.value
            if isinstance(receiver, ast.Name) and (
                receiver.id in self.mp_modules
                or self.scope.names.get(receiver.id) in CONTEXTS
                or (receiver.id in CONTEXT_PARAMETERS and receiver.id in self.scope.params)
            ):
                return func.attr
            if dotted(receiver) in MP_MODULES:
                return func.attr
            if isinstance(receiver, ast.Call) and self.call_kind(receiver) in CONTEXTS:
                return func.attr
        return None

    def call_kind(self, call: ast.Call) -> str | None:
        func = call.func
        name = call_name(func)
        if name is None:
            return None
        if name == "ProcessPoolExecutor" and (
            (isinstance(func, ast.Name) and func.id in self.mp_names)
            or (
                isinstance(func, ast.Attribute)
                and (
                    dotted(func.value) in FUTURES_MODULES
                    or dotted(func.value) in self.futures_modules
                )
            )
        ):
            return POOL
        if self.is_mp(func, frozenset({"get_context"})):
            method = call.args[0] if call.args else None
            if isinstance(method, ast.Constant) and method.value == "fork":
                return FORK_CONTEXT
            return CONTEXT
        if self.is_mp(func, frozenset({"Manager"})) or name == "SyncManager":
            return MANAGER
        if self.is_mp(func, frozenset({"Pool"})):
            return POOL
        if self.is_mp(func, frozenset({"Process"})):
            return PROCESS
        if self.is_mp(func, QUEUE_NAMES):
            return QUEUE
        if self.is_mp(func, SYNC_NAMES):
            return SYNC
        if self.is_mp(func, frozenset({"Value"})):
            return VALUE
        if self.is_mp(func, frozenset({"Array"})):
            return ARRAY
        if isinstance(func, ast.Attribute) and self.kind(func.value) == MANAGER:
            if name == "dict":
                return PROXY_VALUES if self.proxy_values(call) else MDICT
            if name == "list" and self.proxy_values(call):
                return PROXY_VALUES
            return {"list": MLIST, "Namespace": MNS, "Value": MVALUE}.get(name)
        if isinstance(func, ast.Name) and self.classes.get(func.id) is not None:
            return INSTANCE + func.id
        return None

    def proxy_values(self, call: ast.Call) -> bool:
        """Whether ``manager.dict(...)`` or ``manager.list(...)`` starts with values
        that are proxies."""
        for arg in call.args[:1]:
            values: list[ast.expr] = []
            if isinstance(arg, ast.Dict):
                values = list(arg.values)
            elif isinstance(arg, ast.DictComp):
                values = [arg.value]
            elif isinstance(arg, ast.List | ast.Tuple):
                values = list(arg.elts)
            elif isinstance(arg, ast.ListComp):
                values = [arg.elt]
            if any(self.made_by_manager(value) for value in values):
                return True
        return False

    def made_by_manager(self, value: ast.expr) -> bool:
        """``manager.list()``, ``manager.dict()``...: a proxy."""
        return (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and self.kind(value.func.value) == MANAGER
        )

    def expr_kind(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Call):
            kind = self.call_kind(node)
            if kind is None and isinstance(node.func, ast.Name):
                returned = self.returns.get(node.func.id)
                if returned is not None and len(returned) == 1:
                    return returned[0]
            return kind
        if isinstance(node, ast.Name):
            return self.scope.names.get(node.id)
        if isinstance(node, ast.List | ast.ListComp):
            elements = node.elts if isinstance(node, ast.List) else [node.elt]
            kinds = {self.expr_kind(e) for e in elements}
            if len(kinds) == 1:
                (only,) = kinds
                if only is not None and only.startswith(INSTANCE):
                    return INSTANCES + only[len(INSTANCE) :]
        return None

    # -- imports -----------------------------------------------------------------

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name in MP_MODULES:
                self.uses_processes = True
                self.mp_modules.add(alias.asname or alias.name.partition(".")[0])
                if alias.name.partition(".")[0] in BY_VALUE_MODULES:
                    self.by_value_names.add(alias.asname or alias.name.partition(".")[0])
            if alias.name in FUTURES_MODULES:
                self.uses_processes = True
                self.futures_modules.add(alias.asname or alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        for alias in node.names:
            local = alias.asname or alias.name
            if module in MP_MODULES or module in FUTURES_MODULES:
                self.uses_processes = True
                self.mp_names[local] = alias.name
                if module.partition(".")[0] in BY_VALUE_MODULES:
                    self.by_value_names.add(local)
            full = f"{module}.{alias.name}"
            if full in MP_MODULES:
                self.uses_processes = True
                self.mp_modules.add(local)
            if full in FUTURES_MODULES:
                self.uses_processes = True
                self.futures_modules.add(local)

    # -- statements --------------------------------------------------------------

    def visit_If(self, node: ast.If) -> None:
        if self.at_module_level and is_main_guard(node):
            self.guard_depth += 1
            for stmt in node.body:
                self.visit(stmt)
            self.guard_depth -= 1
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if self.scope.function is not None:
            self.scope.local_defs[node.name] = "class"
        for decorator in node.decorator_list:
            self.visit(decorator)
        for base in node.bases:
            self.visit(base)
        self.class_depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.class_depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if self.scope.function is not None:
            self.scope.local_defs[node.name] = "function"
        for decorator in node.decorator_list:
            self.visit(decorator)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        scope = Scope(node, top_level=self.at_module_level)
        arguments = node.args
        for arg in [
            *arguments.posonlyargs,
            *arguments.args,
            *arguments.kwonlyargs,
            *[a for a in (arguments.vararg, arguments.kwarg) if a is not None],
        ]:
            scope.params.add(arg.arg)
        if scope.top_level:
            self.seed_parameters(node, scope)
        saved_class_depth, self.class_depth = self.class_depth, 0
        self.scopes.append(scope)
        for stmt in node.body:
            self.visit(stmt)
        self.check_join_before_drain(scope)
        self.scopes.pop()
        self.class_depth = saved_class_depth
        if self.at_module_level:
            self.scope.names.pop(node.name, None)

    visit_AsyncFunctionDef = visit_FunctionDef

    def seed_parameters(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, scope: Scope
    ) -> None:
        """Bind the parameters to what every call seen passes them (a managed dict...)."""
        positional = [a.arg for a in [*node.args.posonlyargs, *node.args.args]]
        named = {*positional, *(a.arg for a in node.args.kwonlyargs)}
        for slot, kind in self.parameter_kinds.get(node.name, {}).items():
            name = (
                positional[slot]
                if isinstance(slot, int) and slot < len(positional)
                else slot
            )
            if kind is not None and isinstance(name, str) and name in named:
                scope.names[name] = kind

    def note_arguments(
        self, function: ast.expr, args: list[ast.expr], kwargs: dict[str, ast.expr]
    ) -> None:
        """Record the kinds a call passes to a function of this module."""
        if not isinstance(function, ast.Name):
            return
        seen = self.argument_kinds.setdefault(function.id, {})
        slots: list[tuple[int | str, ast.expr]] = [*enumerate(args), *kwargs.items()]
        for slot, value in slots:
            if isinstance(value, ast.Starred):
                return
            kind = self.expr_kind(value)
            if slot in seen and seen[slot] != kind:
                seen[slot] = None
            else:
                seen[slot] = kind

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.body)

    def visit_Return(self, node: ast.Return) -> None:
        self.generic_visit(node)
        function = self.scope.function
        if function is None or len(self.scopes) != 2 or node.value is None:
            return
        values = node.value.elts if isinstance(node.value, ast.Tuple) else [node.value]
        self.returns[function.name] = [self.expr_kind(v) for v in values]

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.check_store(target)
            self.visit_target(target)
        for target in node.targets:
            self.bind_value(target, node.value)
            self.note_proxy_value(target, node.value)

    def note_proxy_value(self, target: ast.expr, value: ast.expr) -> None:
        """``d[k] = manager.list()``, ``ns.items = manager.list()``: the container's
        values are proxies, changed in place rightly."""
        if not (
            isinstance(target, ast.Subscript | ast.Attribute)
            and isinstance(target.value, ast.Name)
            and self.made_by_manager(value)
        ):
            return
        kind = self.kind(target.value)
        if isinstance(target, ast.Subscript) and kind in (MDICT, MLIST):
            self.scope.names[target.value.id] = PROXY_VALUES
        elif isinstance(target, ast.Attribute) and kind == MNS:
            self.scope.names[target.value.id] = PROXY_NAMESPACE

    def bind_value(self, target: ast.expr, value: ast.expr) -> None:
        if isinstance(target, ast.Tuple | ast.List) and isinstance(value, ast.Call):
            returned = (
                self.returns.get(value.func.id)
                if isinstance(value.func, ast.Name)
                else None
            )
            if returned is not None and len(returned) == len(target.elts):
                for element, kind in zip(target.elts, returned, strict=True):
                    self.bind(element, kind)
                for element, kind in zip(target.elts, returned, strict=True):
                    if kind == PROCESS and isinstance(element, ast.Name):
                        self.link(element.id, target.elts)
                return
        if (
            isinstance(target, ast.Tuple | ast.List)
            and isinstance(value, ast.Tuple)
            and len(target.elts) == len(value.elts)
        ):
            for element, item in zip(target.elts, value.elts, strict=True):
                self.bind_value(element, item)
            return
        kind = self.expr_kind(value)
        self.bind(target, kind)
        if (
            isinstance(target, ast.Name)
            and isinstance(value, ast.Call)
            and root_name(value.func) in self.by_value_names
        ):
            self.by_value_names.add(target.id)  # a pool or context of multiprocess
        if kind == PROCESS and isinstance(target, ast.Name) and isinstance(value, ast.Call):
            self.link(target.id, [*value.args, *(k.value for k in value.keywords)])

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
            self.check_store(node.target)
            self.visit_target(node.target)
            self.bind_value(node.target, node.value)

    def visit_target(self, target: ast.expr) -> None:
        if isinstance(target, ast.Subscript | ast.Attribute):
            self.visit(target)
        elif isinstance(target, ast.Tuple | ast.List | ast.Starred):
            self.generic_visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        self.visit_target(node.target)
        self.check_store(node.target)
        target = node.target
        if isinstance(target, ast.Attribute) and target.attr == "value":
            if self.unlocked_value(target.value, (MVALUE, VALUE)):
                self.report(node, "MPG006", f"{ast.unparse(target)} {op(node)}=")
        elif isinstance(target, ast.Subscript) and self.unlocked_value(
            target.value, (ARRAY,)
        ):
            self.report(node, "MPG006", f"{ast.unparse(target)} {op(node)}=")
        if isinstance(target, ast.Name):
            self.bind(target, None)

    def unlocked_value(self, node: ast.expr, kinds: tuple[str, ...]) -> bool:
        if not isinstance(node, ast.Name):
            return False
        kind = self.scope.names.get(node.id)
        # Only in worker code: a parameter of a module-level function, known to be a
        # Value (or Array) from the calls, or unknown in a module that creates Values.
        # A parent's own `+=` while no child writes, a method or a nested callback
        # run by one process at a time are left out: in the corpus they were not races.
        worker = self.scope.top_level and node.id in self.scope.params
        known = kind in kinds
        passed = kind is None and self.values_created and VALUE in kinds
        if not (worker and (known or passed)) or self.scope.acquired:
            return False
        return not any("lock" in ast.unparse(expr).lower() for expr in self.with_exprs)

    def check_store(self, target: ast.expr) -> None:
        """``d[k][j] = v``, ``d[k].attr = v``, ``ns.items[k] = v`` on a copy."""
        if isinstance(target, ast.Subscript | ast.Attribute):
            copy = self.managed_copy(target.value)
            if copy is not None:
                self.report(target, "MPG005", ast.unparse(target) + " = ...")

    def managed_copy(self, node: ast.expr) -> str | None:
        """The expression, when ``node`` reads a copy out of a managed container."""
        if isinstance(node, ast.Subscript) and self.kind(node.value) in (MDICT, MLIST):
            return ast.unparse(node)
        if isinstance(node, ast.Attribute) and self.kind(node.value) == MNS:
            return ast.unparse(node)
        return None

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            self.visit(item.context_expr)
            self.check_lock_fetch(item.context_expr)
            if item.optional_vars is not None:
                self.bind_value(item.optional_vars, item.context_expr)
        self.with_exprs.extend(item.context_expr for item in node.items)
        for stmt in node.body:
            self.visit(stmt)
        del self.with_exprs[len(self.with_exprs) - len(node.items) :]

    visit_AsyncWith = visit_With

    def check_lock_fetch(self, expr: ast.expr) -> None:
        for node in ast.walk(expr):
            if not (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name)):
                continue
            name = node.value.id
            kind = self.scope.names.get(name)
            holds_locks = kind == PROXY_VALUES or (
                kind is None and name in self.scope.params and self.manager_lock_dicts
            )
            if holds_locks:
                self.report(node, "MPG008", ast.unparse(node))
                return

    # -- expressions --------------------------------------------------------------

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load) and node.id in self.scope.names:
            self.scope.events.append(("use", node.id, node))

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self.generic_visit(node)
        left = node.left
        if (
            isinstance(node.op, ast.Mod)
            and isinstance(left, ast.Call)
            and isinstance(left.func, ast.Name)
            and left.func.id == "hash"
            and self.uses_processes
        ):
            self.report(node, "MPG007")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            # A method call is an event on its receiver, for join-before-drain.
            receiver = func.value.id
            if func.attr == "join" and self.scope.names.get(receiver) == PROCESS:
                self.scope.events.append(("join", receiver, node))
            elif self.scope.names.get(receiver) == QUEUE:
                event = "other" if func.attr in QUEUE_NON_READS else "use"
                self.scope.events.append((event, receiver, node))
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    self.visit(arg)
                return
        self.generic_visit(node)
        kind = self.call_kind(node)
        name = call_name(func)
        if name == "acquire":
            self.scope.acquired = True
        if isinstance(func, ast.Name) and kind is None:
            keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
            self.note_arguments(func, node.args, keywords)
        self.check_targets(node, kind)
        if self.at_module_level and not self.guard_depth:
            if kind in (POOL, MANAGER):
                self.report(node, "MPG002", f"{name}()")
            if (
                name == "start"
                and isinstance(func, ast.Attribute)
                and self.kind(func.value) == PROCESS
            ):
                self.report(node, "MPG002", f"{ast.unparse(func)}()")
            if name == "set_start_method":
                self.report(node, "MPG003")
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("append", "insert")
            and isinstance(func.value, ast.Name)
            and self.kind(func.value) == MLIST
            and self.made_by_manager(node.args[-1] if node.args else func)
        ):
            self.scope.names[func.value.id] = PROXY_VALUES  # results.append(manager.list())
        if isinstance(func, ast.Attribute) and func.attr in MUTATORS:
            copy = self.managed_copy(func.value)
            if copy is not None:
                self.report(node, "MPG005", f"{copy}.{func.attr}()")
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "dict"
            and (self.kind(func.value) == MANAGER)
        ):
            self.check_dict_keys(node)

    def check_targets(self, node: ast.Call, kind: str | None) -> None:
        """MPG001 and MPG009 on a Process, Pool or executor call."""
        func = node.func
        keywords = {k.arg: k.value for k in node.keywords if k.arg is not None}
        callables: list[ast.expr] = []
        if kind == PROCESS and "target" in keywords:
            callables.append(keywords["target"])
            packed_args, packed_kwargs = keywords.get("args"), keywords.get("kwargs")
            self.note_arguments(
                keywords["target"],
                list(packed_args.elts) if isinstance(packed_args, ast.Tuple) else [],
                literal_kwargs(packed_kwargs),
            )
        if kind == POOL:
            if "initializer" in keywords:
                callables.append(keywords["initializer"])
            position = 2 if call_name(func) == "ProcessPoolExecutor" else 1
            if len(node.args) > position:
                callables.append(node.args[position])
        pool_method = (
            isinstance(func, ast.Attribute)
            and func.attr in POOL_METHODS
            and self.kind(func.value) == POOL
        )
        if pool_method:
            assert isinstance(func, ast.Attribute)
            first = node.args[0] if node.args else keywords.get("func", keywords.get("fn"))
            if first is not None:
                callables.append(first)
                if func.attr == "submit":
                    self.note_arguments(first, node.args[1:], keywords)
                elif func.attr in ("apply", "apply_async"):
                    packed = node.args[1] if len(node.args) > 1 else keywords.get("args")
                    self.note_arguments(
                        first,
                        list(packed.elts) if isinstance(packed, ast.Tuple) else [],
                        literal_kwargs(keywords.get("kwds")),
                    )
            self.check_task_arguments(node, func.attr, keywords)
        # A lambda pickles by value with dill, and a fork context's Process target is
        # not pickled at all (popen_fork.py runs it in the forked copy); nor is the
        # initializer of a fork context's pool, which is its workers' Process argument
        # (its tasks are pickled, so a task function is still checked).
        by_value = root_name(func) in self.by_value_names
        context = func.value if isinstance(func, ast.Attribute) else None
        context = keywords.get("mp_context", context)
        from_fork_context = context is not None and self.kind(context) == FORK_CONTEXT
        not_pickled: set[int] = set()
        if from_fork_context and kind == PROCESS:
            not_pickled.update(id(target) for target in callables)
        if from_fork_context and kind == POOL and "initializer" in keywords:
            not_pickled.add(id(keywords["initializer"]))
        for target in callables:
            if isinstance(target, ast.Name):
                self.target_names.add(target.id)
            if by_value or id(target) in not_pickled:
                continue
            detail = self.unpicklable(target)
            if detail is not None:
                self.report(target, "MPG001", detail)

    def unpicklable(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Lambda):
            return "a lambda"
        if isinstance(node, ast.Call) and call_name(node.func) == "partial" and node.args:
            return self.unpicklable(node.args[0])
        return self.local_def(node)

    def check_task_arguments(
        self, node: ast.Call, method: str, keywords: dict[str, ast.expr]
    ) -> None:
        arguments: list[ast.expr] = []
        if method == "submit":
            arguments = [*node.args[1:], *(k.value for k in node.keywords)]
        elif method in ("apply", "apply_async"):
            packed = [*node.args[1:3], keywords.get("args"), keywords.get("kwds")]
            for item in packed:
                if isinstance(item, ast.Tuple | ast.List):
                    arguments.extend(item.elts)
                elif isinstance(item, ast.Dict):
                    arguments.extend(item.values)
        for argument in arguments:
            if isinstance(argument, ast.Name) and self.kind(argument) in (QUEUE, SYNC):
                self.report(argument, "MPG009", f"a {self.kind(argument)} ({argument.id})")

    def check_dict_keys(self, node: ast.Call) -> None:
        if not node.args:
            return
        arg = node.args[0]
        if isinstance(arg, ast.Dict):
            for key in arg.keys:
                if key is not None:
                    self.check_key(key)
        elif isinstance(arg, ast.DictComp):
            generator = arg.generators[0]
            if (
                isinstance(arg.key, ast.Name)
                and isinstance(generator.target, ast.Name)
                and arg.key.id == generator.target.id
            ):
                source = self.expr_kind(generator.iter)
                if source is not None and source.startswith(INSTANCES):
                    self.report_key(arg.key, source[len(INSTANCES) :])
            else:
                self.check_key(arg.key)

    def check_key(self, key: ast.expr) -> None:
        kind = self.expr_kind(key)
        if kind is not None and kind.startswith(INSTANCE):
            self.report_key(key, kind[len(INSTANCE) :])

    def report_key(self, key: ast.expr, class_name: str) -> None:
        info = self.classes.get(class_name)
        if info is not None and info.identity_equality:
            self.report(key, "MPG004", f"class {class_name}")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.generic_visit(node)
        if self.kind(node.value) in (MDICT, PROXY_VALUES):
            self.check_key(node.slice)

    # -- join before drain ---------------------------------------------------------

    def link(self, process: str, values: list[ast.expr]) -> None:
        """Note the Queues among ``values`` as given to ``process``."""
        queues = {
            node.id
            for value in values
            for node in ast.walk(value)
            if isinstance(node, ast.Name) and self.scope.names.get(node.id) == QUEUE
        }
        self.scope.links[process] = queues

    def check_join_before_drain(self, scope: Scope) -> None:
        events = scope.events
        for index, (kind, process, join) in enumerate(events):
            if kind != "join":
                continue
            bound = max(
                (i for i, e in enumerate(events[:index]) if e[:2] == ("bind", process)),
                default=-1,
            )
            for queue in sorted(scope.links.get(process, ())):
                read_before = any(
                    e[:2] == ("use", queue) for e in events[bound + 1 : index]
                )
                read_after = False
                for event, name, _ in events[index + 1 :]:
                    if name == queue and event in ("bind", "use"):
                        read_after = event == "use"
                        break
                if read_after and not read_before:
                    self.report(join, "MPG010", process)
                    break


def literal_kwargs(node: ast.expr | None) -> dict[str, ast.expr]:
    """``{"name": value, ...}`` or ``dict(name=value)`` as a mapping; {} otherwise."""
    if isinstance(node, ast.Dict):
        return {
            key.value: value
            for key, value in zip(node.keys, node.values, strict=True)
            if isinstance(key, ast.Constant) and isinstance(key.value, str)
        }
    if isinstance(node, ast.Call) and call_name(node.func) == "dict" and not node.args:
        return {k.arg: k.value for k in node.keywords if k.arg is not None}
    return {}


def op(node: ast.AugAssign) -> str:
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}.get(
        type(node.op), "op"
    )


def analyse(tree: ast.Module) -> list[Finding]:
    """Every finding in ``tree``, sorted by position."""
    facts = prepare(tree)
    if not facts.uses_processes:  # every rule needs processes, pools or a Manager
        return []
    # Two passes: the first learns what the module passes to its own functions
    # (a managed dict to a process target...), the second knows it from the start.
    first = Analyser(facts)
    for stmt in tree.body:
        first.visit(stmt)
    analyser = Analyser(facts)
    analyser.parameter_kinds = first.argument_kinds
    for stmt in tree.body:
        analyser.visit(stmt)
    analyser.check_join_before_drain(analyser.scopes[0])
    analyser.findings.extend(guarded_globals(tree, analyser))
    return sorted(set(analyser.findings))


@dataclass
class Facts:
    """What a pass needs before it starts, from one walk over the whole module."""

    uses_processes: bool = False
    classes: dict[str, ClassInfo] = field(default_factory=dict)
    values_created: bool = False
    manager_lock_dicts: bool = False


def prepare(tree: ast.Module) -> Facts:
    facts = Facts()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            if any(a.name in MP_MODULES or a.name in FUTURES_MODULES for a in node.names):
                facts.uses_processes = True
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if (
                module in MP_MODULES
                or module in FUTURES_MODULES
                or any(
                    f"{module}.{a.name}" in MP_MODULES | FUTURES_MODULES for a in node.names
                )
            ):
                facts.uses_processes = True
        elif isinstance(node, ast.ClassDef):
            facts.classes[node.name] = classify_class(node)
        elif isinstance(node, ast.Call):
            name = call_name(node.func)
            if name == "Value":
                facts.values_created = True
            elif name == "dict" and node.args and holds_locks(node.args[0]):
                facts.manager_lock_dicts = True
    return facts


def holds_locks(arg: ast.expr) -> bool:
    """Whether a dict display or comprehension has ``x.Lock()`` values."""
    if isinstance(arg, ast.Dict):
        values = list(arg.values)
    elif isinstance(arg, ast.DictComp):
        values = [arg.value]
    else:
        return False
    return any(
        isinstance(v, ast.Call)
        and isinstance(v.func, ast.Attribute)
        and v.func.attr in ("Lock", "RLock")
        for v in values
    )


def iter_guarded(body: list[ast.stmt], guarded: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements (not inside def or class), with whether under the guard."""
    for stmt in body:
        yield stmt, guarded
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        inner = guarded or is_main_guard(stmt)
        for name in ("body", "orelse", "finalbody"):
            children = getattr(stmt, name, None)
            if isinstance(children, list):
                is_body = name == "body"
                yield from iter_guarded(children, inner if is_body else guarded)
        for handler in getattr(stmt, "handlers", []):
            yield from iter_guarded(handler.body, guarded)


def bound_names(stmt: ast.stmt) -> set[str]:
    names: set[str] = set()
    if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {stmt.name}
    if isinstance(stmt, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).partition(".")[0] for a in stmt.names}
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, ast.AnnAssign | ast.AugAssign | ast.For | ast.AsyncFor):
        targets = [stmt.target]
    elif isinstance(stmt, ast.With | ast.AsyncWith):
        targets = [i.optional_vars for i in stmt.items if i.optional_vars is not None]
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.add(node.id)
    return names


def guarded_globals(tree: ast.Module, analyser: Analyser) -> list[Finding]:
    """MPG011: a process target reads a global that only the __main__ guard assigns."""
    if not analyser.uses_processes:
        return []
    under_guard: set[str] = set()
    elsewhere: set[str] = set()
    functions: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for stmt, guarded in iter_guarded(tree.body, False):
        names = bound_names(stmt)
        (under_guard if guarded else elsewhere).update(names)
        if not guarded and isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            functions[stmt.name] = stmt
            for node in ast.walk(stmt):  # `global name` in a function assigns it too
                if isinstance(node, ast.Global):
                    elsewhere.update(node.names)
    only_guarded = under_guard - elsewhere
    if not only_guarded:
        return []
    findings: list[Finding] = []
    for name in sorted(analyser.target_names & functions.keys()):
        function = functions[name]
        local = {a.arg for a in ast.walk(function.args) if isinstance(a, ast.arg)}
        for node in ast.walk(function):
            if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
                local.add(node.id)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                local.add(node.name)
        reported: set[str] = set()
        for node in ast.walk(function):
            if (
                isinstance(node, ast.Name)
                and isinstance(node.ctx, ast.Load)
                and node.id in only_guarded
                and node.id not in local
                and node.id not in reported
            ):
                reported.add(node.id)
                message = RULES["MPG011"].format(f"global {node.id}, read by {name}(),")
                findings.append(
                    Finding(node.lineno, node.col_offset + 1, "MPG011", message)
                )
    return findings
