"""Give a worked example the user's own names before the first prompt shows it.

Measured on the held-out benchmark: the 1.5B model copies the example's names into the script it
adapts (``UNITS`` for the script's ``HIDDEN``, ``N_TREES`` for ``N_ESTIMATORS``, ``opt`` for
``optimizer``, ``f1`` for ``acc``), where they were never defined, and the program dies with NameError.
Renaming the example's names to the script's takes the foreign names out of what it copies.

A name is renamed only on use-site evidence from the two syntax trees, one to one, and only when
unambiguous: the same keyword or positional slot of a call to the same callee, or a variable assigned
from a call to the same callee (or, when each file has exactly one, to the same family: an optimizer,
a loss, an sklearn metric or model). Only names the example binds itself are renamed, never a name the
script binds too (copying it cannot raise NameError), nor one whose new name the example already uses.
"""

from __future__ import annotations

import ast
import io
import logging
import sys
import tokenize
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

from opsgraft.adapters.examples import Example
from opsgraft.pyast import parse

log = logging.getLogger(__name__)

Slot = tuple[str | int, ...]
# Builtins whose positional arguments say nothing about what a name means (range does: epochs).
GENERIC_CALLS = frozenset({"len", "float", "int", "str", "bool", "print", "list", "tuple", "dict", "set", "sum",
                           "min", "max", "abs", "round", "zip", "enumerate", "isinstance", "sorted", "type", "repr",
                           "getattr", "setattr", "hasattr", "iter", "next", "open", "format", "super"})
NEVER = frozenset({"self", "cls", "_"})
# Module prefixes whose callables make one kind of object: one assignment of each kind in each file pairs up.
FAMILIES = {"torch.optim": "optimizer", "keras.optimizers": "optimizer", "tensorflow.keras.optimizers": "optimizer",
            "sklearn.metrics": "metric", "keras.losses": "loss", "tensorflow.keras.losses": "loss",
            **{f"sklearn.{m}": "sklearn-model" for m in ("ensemble", "linear_model", "tree", "svm", "neighbors",
                                                          "naive_bayes", "neural_network")}}


def _family(qualified: str) -> str | None:
    prefix, _, last = qualified.rpartition(".")
    return "loss" if prefix == "torch.nn" and last.endswith("Loss") else FAMILIES.get(prefix)


@dataclass
class _Facts:
    """What one file binds and uses, and which names fill which use-site slots."""

    bound: set[str] = field(default_factory=set)  # assigned, loop/with targets, arguments; not imports or defs
    defined: set[str] = field(default_factory=set)  # imports, functions and classes
    uses: set[str] = field(default_factory=set)  # every identifier a Name, argument, import or def spells
    strong: dict[Slot, list[str | None]] = field(default_factory=lambda: defaultdict(list))
    weak: dict[Slot, list[str | None]] = field(default_factory=lambda: defaultdict(list))


def _facts(source: str) -> _Facts:
    tree = parse(source)
    facts = _Facts()
    imports: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                imports[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    facts.defined |= set(imports)

    def qualified(expr: ast.expr) -> str | None:
        if isinstance(expr, ast.Name):
            return imports.get(expr.id, expr.id)
        if isinstance(expr, ast.Attribute):
            base = qualified(expr.value)
            return f"{base}.{expr.attr}" if base else None
        return None

    def name_of(expr: ast.expr) -> str | None:  # None stands for anything that is not a bare name
        return expr.id if isinstance(expr, ast.Name) else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            facts.uses.add(node.id)
            if isinstance(node.ctx, ast.Store):
                facts.bound.add(node.id)
        elif isinstance(node, ast.arg):
            facts.uses.add(node.arg)
            facts.bound.add(node.arg)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            facts.defined.add(node.name)
        elif isinstance(node, ast.Call):
            func = node.func
            last = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if last is None:
                continue
            for kw in node.keywords:
                if kw.arg:
                    facts.strong[("kw", last, kw.arg)].append(name_of(kw.value))
                    facts.weak[("kw", kw.arg)].append(name_of(kw.value))
            for i, arg in enumerate(node.args):
                if isinstance(arg, ast.Starred):
                    break
                if last not in GENERIC_CALLS:
                    facts.strong[("pos", last, i)].append(name_of(arg))
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Call):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            callee = qualified(node.value.func)
            if len(targets) != 1 or callee is None:
                continue
            elts = targets[0].elts if isinstance(targets[0], ast.Tuple) else [targets[0]]
            for i, elt in enumerate(elts):
                facts.strong[("assign", callee, i, len(elts))].append(name_of(elt))
            family = _family(callee)
            if family and len(elts) == 1:
                facts.weak[("family", family)].append(name_of(elts[0]))
    facts.uses |= facts.defined
    facts.bound -= facts.defined | NEVER
    return facts


def _candidates(ex: dict[Slot, list[str | None]], sc: dict[Slot, list[str | None]],
                ex_ok: set[str], sc_ok: set[str]) -> dict[str, set[str]]:
    """Example name -> the script names that fill the same slot, where each side fills it with one name only."""
    out: dict[str, set[str]] = defaultdict(set)
    for slot, ex_names in ex.items():
        a, b = {n for n in ex_names if n}, {n for n in sc.get(slot, ()) if n}
        if len(a) == len(b) == 1 and (x := a.pop()) in ex_ok and (y := b.pop()) in sc_ok:
            out[x].add(y)
    return out


def _one_to_one(cands: dict[str, set[str]]) -> dict[str, str]:
    """The candidates with exactly one target that no other example name also points at."""
    single = {a: next(iter(bs)) for a, bs in cands.items() if len(bs) == 1}
    hits = Counter(b for bs in cands.values() for b in bs)
    return {a: b for a, b in single.items() if hits[b] == 1}


def drop_collisions(mapping: dict[str, str], used: set[str]) -> dict[str, str]:
    """``mapping`` less every rename whose new name the example already uses and keeps (not renamed away)."""
    mapping = dict(mapping)
    while True:
        clash = [a for a, b in mapping.items() if b in used and b not in mapping]
        if not clash:
            return mapping
        for a in clash:
            log.debug("not renaming %s: the example already uses %s", a, mapping[a])
            del mapping[a]


def name_map(example_before: str, script: str) -> dict[str, str]:
    """Example name -> script name, for the names the example binds whose use sites match one of the script's.

    Same-callee evidence (a call's keyword or positional slot, an assignment's target) is weighed first;
    a keyword on any call, or an assignment from the same family, only for names it left unsettled.
    """
    try:
        ex, sc = _facts(example_before), _facts(script)
    except SyntaxError:
        return {}
    ex_ok = ex.bound - sc.bound - sc.defined  # the script's own names are not foreign: copying them is safe
    sc_ok = sc.bound
    strong = _candidates(ex.strong, sc.strong, ex_ok, sc_ok)
    mapping = _one_to_one(strong)
    settled_b = {b for bs in strong.values() for b in bs}
    weak = _candidates(ex.weak, sc.weak, ex_ok - set(strong), sc_ok - settled_b)
    mapping.update(_one_to_one(weak))
    return drop_collisions({a: b for a, b in mapping.items() if a != b}, ex.uses)


def _keyword_columns(source: str, tree: ast.Module) -> set[tuple[int, int]]:
    """(row, character column) of every call's keyword-argument name (ast counts columns in UTF-8 bytes)."""
    lines = source.splitlines()
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg:
            line = lines[node.lineno - 1].encode("utf-8")
            out.add((node.lineno, len(line[:node.col_offset].decode("utf-8"))))
    return out


def rename(source: str, mapping: dict[str, str]) -> str:
    """``source`` with each NAME token in ``mapping`` renamed, but not attribute names after a '.' or a
    call's keyword names; strings are left alone except the expressions of f-string replacement fields."""
    if not mapping:
        return source
    keywords = _keyword_columns(source, parse(source))
    starts = [0]
    for line in source.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    edits: list[tuple[int, int, str]] = []
    prev = ""
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        new = tok.string
        if tok.type == tokenize.NAME and tok.string in mapping and prev != "." and tok.start not in keywords:
            new = mapping[tok.string]
        elif tok.type == tokenize.STRING and "f" in _prefix(tok.string).lower():
            new = _rename_fstring(tok.string, mapping)  # Python 3.12 gives the fields' NAME tokens instead
        if new != tok.string:
            (r0, c0), (r1, c1) = tok.start, tok.end
            edits.append((starts[r0 - 1] + c0, starts[r1 - 1] + c1, new))
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT):
            prev = tok.string
    for start, end, new in reversed(edits):
        source = source[:start] + new + source[end:]
    return source


def _prefix(token: str) -> str:
    return token[:min(i for i in (token.find("'"), token.find('"'), len(token)) if i >= 0)]


def _top_level(text: str, i: int, stops: str) -> int:
    """The index of the first of ``stops`` in ``text[i:]`` outside brackets and quotes ('!=' is no stop); -1: none."""
    depth, quote = 0, ""
    for j in range(i, len(text)):
        c = text[j]
        if quote:
            quote = "" if c == quote else quote
        elif c in "'\"":
            quote = c
        elif depth == 0 and c in stops and text[j:j + 2] != "!=":
            return j
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
    return -1


def _rename_fields(body: str, mapping: dict[str, str]) -> str:
    """An f-string's body with the expressions of its replacement fields renamed (and those in format specs)."""
    out, i = [], 0
    while i < len(body):
        if body[i] != "{" or body.startswith("{{", i):
            step = 2 if body.startswith(("{{", "}}"), i) else 1
            out.append(body[i:i + step])
            i += step
            continue
        end = _top_level(body, i + 1, "}")
        if end < 0:
            raise ValueError("unclosed replacement field")
        field = body[i + 1:end]
        cut = _top_level(field, 0, ":!")
        expr, rest = (field, "") if cut < 0 else (field[:cut], field[cut:])
        if rest.startswith(":"):
            rest = ":" + _rename_fields(rest[1:], mapping)
        # A self-documenting field (f1=) does not parse as "(f1=)": the SyntaxError keeps the whole token.
        out.append("{" + rename(f"({expr})", mapping)[1:-1] + rest + "}")
        i = end + 1
    return "".join(out)


def _literal_parts(token: str) -> list[object]:
    node = parse(token).body[0]
    assert isinstance(node, ast.Expr) and isinstance(node.value, ast.JoinedStr)
    return [v.value for v in node.value.values if isinstance(v, ast.Constant)]


def _rename_fstring(token: str, mapping: dict[str, str]) -> str:
    """An f-string token with names renamed in its fields' expressions only; unchanged if that is not certain."""
    if not any(name in token for name in mapping) or sys.version_info >= (3, 12):
        return token
    prefix = _prefix(token)
    rest = token[len(prefix):]
    quote = rest[:3] if rest[:3] in ('"""', "'''") else rest[:1]
    try:
        new = prefix + quote + _rename_fields(rest[len(quote):-len(quote)], mapping) + quote
        if _literal_parts(new) != _literal_parts(token):  # the text around the fields must not change
            return token
    except (SyntaxError, ValueError, AssertionError):
        return token
    return new


def align(example: Example, script: str) -> Example:
    """``example`` with its names renamed to ``script``'s (see :func:`name_map`), before and after alike.

    A rename whose new name the example's after uses for something else is dropped too; when the result
    would not parse (it should always), the example comes back unchanged.
    """
    try:
        mapping = drop_collisions(name_map(example.before, script), _facts(example.after).uses)
        if not mapping:
            return example
        before, after = rename(example.before, mapping), rename(example.after, mapping)
        for text in (before, after):
            parse(text)
    except SyntaxError:
        log.warning("could not align %s with the script; showing it unchanged", example.path)
        return example
    log.info("worked example %s renamed to the script's names: %s", example.path,
             ", ".join(f"{a}->{b}" for a, b in sorted(mapping.items())))
    return replace(example, before=before, after=after)
