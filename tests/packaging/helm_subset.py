"""Renders packaging/helm/homeostat the way `helm template` would, for the part of Helm's
template language the chart uses, so the tests can check the objects it produces
without a helm binary (Debian 12 has none).

Supported, with Go template / Helm semantics:
  {{ .Values.a.b }} {{ .Release.Name }} {{ .Release.Namespace }} {{ .Chart.AppVersion }}
  {{- ... -}} whitespace trimming, "string" and integer literals, pipelines (a | f b)
  if / else / end (Go truthiness), define / include, and the functions
  not, default, required, quote, toYaml, nindent, indent.
Anything else raises TemplateError naming the file: a chart change that needs more
must extend this renderer (and its tests), never be silently mis-rendered.
"""

import re
from pathlib import Path

import yaml


class TemplateError(Exception):
    pass


ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
TOKEN = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\||\.[A-Za-z0-9_.]*|[A-Za-z_][A-Za-z0-9_]*|-?\d+)')


def _lex(text, name):
    """Text and action pieces, with {{- and -}} trimming applied."""
    pieces, pos, trim_next = [], 0, False
    for m in ACTION.finditer(text):
        chunk = text[pos:m.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if m.group(1):
            chunk = chunk.rstrip()
        pieces.append(("text", chunk))
        pieces.append(("action", m.group(2)))
        trim_next = bool(m.group(3))
        pos = m.end()
    chunk = text[pos:]
    pieces.append(("text", chunk.lstrip() if trim_next else chunk))
    return pieces


def _parse(pieces, name):
    """A tree: lists of ("text", s), ("expr", src), ("if", src, then, else), ("define", n, body)."""
    root = []
    stack = [(root, None)]  # (list being filled, the if/define node owning it)
    for kind, body in pieces:
        out = stack[-1][0]
        if kind == "text":
            if body:
                out.append(("text", body))
            continue
        if body.startswith("/*"):
            continue
        word = body.split(None, 1)[0] if body else ""
        rest = body[len(word):].strip()
        if word == "if":
            node = ["if", rest, [], []]
            out.append(node)
            stack.append((node[2], node))
        elif word == "else":
            if rest:
                raise TemplateError(f"{name}: 'else {rest}' is not supported by helm_subset.py")
            if not stack[-1][1] or stack[-1][1][0] != "if":
                raise TemplateError(f"{name}: else outside if")
            node = stack.pop()[1]
            stack.append((node[3], node))
        elif word == "define":
            node = ["define", _literal(rest, name), []]
            out.append(node)
            stack.append((node[2], node))
        elif word == "end":
            if len(stack) == 1:
                raise TemplateError(f"{name}: end without if/define")
            stack.pop()
        elif word in ("range", "with", "template", "block", "else if"):
            raise TemplateError(f"{name}: '{word}' is not supported by helm_subset.py")
        else:
            out.append(("expr", body))
    if len(stack) != 1:
        raise TemplateError(f"{name}: missing end")
    return root


def _literal(src, name):
    m = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', src.strip())
    if not m:
        raise TemplateError(f"{name}: expected a string, got {src!r}")
    return m.group(1)


def truthy(v):
    return not (v is None or v is False or v == 0 or v == "" or v == {} or v == [])


def to_string(v):
    if v is None:
        return ""  # Helm prints a missing value as nothing (with missingkey=zero)
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        raise TemplateError(f"printing a {type(v).__name__} needs toYaml: {v!r}")
    return str(v)


def to_yaml(v):
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


class Chart:
    def __init__(self, chart_dir):
        self.dir = Path(chart_dir)
        meta = yaml.safe_load((self.dir / "Chart.yaml").read_text())
        self.chart = {"Name": meta["name"], "Version": meta["version"], "AppVersion": meta.get("appVersion", "")}
        self.default_values = yaml.safe_load((self.dir / "values.yaml").read_text()) or {}
        self.templates = {}
        self.defines = {}
        for path in sorted((self.dir / "templates").iterdir()):
            tree = _parse(_lex(path.read_text(), path.name), path.name)
            self._collect_defines(tree)
            self.templates[path.name] = tree

    def _collect_defines(self, tree):
        for node in tree:
            if node[0] == "define":
                self.defines[node[1]] = node[2]

    def render(self, values=None, release="homeostat", namespace="homeostat"):
        """{template file name: rendered text} for every template not starting with '_'."""
        merged = _merge(self.default_values, values or {})
        ctx = {"Values": merged, "Release": {"Name": release, "Namespace": namespace, "Service": "Helm"},
               "Chart": self.chart}
        return {n: self._run(t, ctx, n) for n, t in self.templates.items() if not n.startswith("_")}

    def render_objects(self, values=None, **kw):
        """The Kubernetes objects of every rendered template, by kind."""
        objects = {}
        for name, text in self.render(values, **kw).items():
            for doc in yaml.safe_load_all(text):
                if doc:
                    objects.setdefault(doc["kind"], []).append(doc)
        return objects

    def _run(self, tree, ctx, name):
        out = []
        for node in tree:
            if node[0] == "text":
                out.append(node[1])
            elif node[0] == "expr":
                out.append(to_string(self._pipeline(node[1], ctx, name)))
            elif node[0] == "if":
                out.append(self._run(node[2] if truthy(self._pipeline(node[1], ctx, name)) else node[3], ctx, name))
        return "".join(out)

    def _pipeline(self, src, ctx, name):
        tokens, pos = [], 0
        while pos < len(src):
            m = TOKEN.match(src, pos)
            if not m or m.end() == pos:
                raise TemplateError(f"{name}: cannot read {src[pos:]!r} in {{{{ {src} }}}}")
            tokens.append(m.group(1))
            pos = m.end()
            if src[pos:].strip() == "":
                break
        stages, cur = [], []
        for t in tokens:
            if t == "|":
                stages.append(cur)
                cur = []
            else:
                cur.append(t)
        stages.append(cur)
        value, piped = None, False
        for stage in stages:
            value = self._command(stage, ctx, name, [value] if piped else [])
            piped = True
        return value

    def _value(self, tok, ctx, name):
        if tok.startswith('"'):
            return bytes(tok[1:-1], "utf-8").decode("unicode_escape")
        if re.fullmatch(r"-?\d+", tok):
            return int(tok)
        if tok == ".":
            return ctx
        if tok.startswith("."):
            v = ctx
            for part in tok[1:].split("."):
                v = v.get(part) if isinstance(v, dict) else None
            return v
        raise TemplateError(f"{name}: '{tok}' is not a value helm_subset.py knows")

    def _command(self, stage, ctx, name, piped):
        if not stage:
            raise TemplateError(f"{name}: empty pipeline stage")
        head, args = stage[0], stage[1:]
        if head.startswith(".") or head.startswith('"') or re.fullmatch(r"-?\d+", head):
            if args or piped:
                raise TemplateError(f"{name}: a value takes no arguments: {stage}")
            return self._value(head, ctx, name)
        vals = [self._value(a, ctx, name) for a in args] + piped
        if head == "include":
            tpl, dot = vals
            if tpl not in self.defines:
                raise TemplateError(f"{name}: no define {tpl!r}")
            return self._run(self.defines[tpl], dot, name)
        if head == "not":
            return not truthy(vals[0])
        if head == "default":
            fallback, given = vals
            return given if truthy(given) else fallback
        if head == "required":
            message, given = vals
            if not truthy(given):
                raise TemplateError(f"{name}: execution error: {message}")
            return given
        if head == "quote":
            return '"' + to_string(vals[0]).replace("\\", "\\\\").replace('"', '\\"') + '"'
        if head == "toYaml":
            return to_yaml(vals[0])
        if head in ("nindent", "indent"):
            n, text = vals
            indented = "\n".join(" " * n + line for line in to_string(text).split("\n"))
            return "\n" + indented if head == "nindent" else indented
        raise TemplateError(f"{name}: function '{head}' is not supported by helm_subset.py")


def _merge(base, over):
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
