#!/usr/bin/python3
"""The daemon's shape, checked on its sources (issue 11's 'done when'):

* no include cycle among modules (a module is foo.c with its foo.h), in
  daemon/ (mtv-transfer included) and common/;
* nothing in daemon/migration/ names a provider or target type, or includes
  a provider's or target's folder: the engine knows them by their adapters;
* neither the engine nor the provider runtime calls the daemon (mtv_daemon_*):
  they get what they need through their host structs.

Prints each problem with where it is; exit status 1 when there is one."""
import os
import re
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SEARCH = ["daemon", "daemon/providers", "daemon/kube", "common", "common/tsl", "daemon/transfer"]
TYPES = ["vsphere", "ovirt", "openstack", "ova", "openshift", "kubevirt", "local", "cluster", "hyperv", "ec2"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def sources(top):
    for base, _, files in os.walk(os.path.join(ROOT, top)):
        for f in files:
            if f.endswith((".c", ".h")):
                yield os.path.relpath(os.path.join(base, f), ROOT)


def resolve(name, including):
    for d in [os.path.dirname(including)] + SEARCH:
        candidate = os.path.normpath(os.path.join(d, name))
        if os.path.exists(os.path.join(ROOT, candidate)):
            return candidate
    return None   # generated (mtv-dbus-generated.h, config.h) or a system header


def module(path):
    return os.path.splitext(path)[0]


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    problems = []
    graph, why = {}, {}
    files = list(sources("daemon")) + list(sources("common"))
    for path in files:
        text = open(os.path.join(ROOT, path), errors="replace").read()
        for name in INCLUDE.findall(text):
            target = resolve(name, path)
            if target is None or module(target) == module(path):
                continue
            graph.setdefault(module(path), set()).add(module(target))
            why.setdefault((module(path), module(target)), path + ": #include \"" + name + "\"")
    for comp in cycles(graph):
        lines = [why[(a, b)] for a in comp for b in comp if (a, b) in why]
        problems.append("include cycle among " + ", ".join(comp) + ":\n    " + "\n    ".join(lines))

    type_word = re.compile(r'"(' + "|".join(TYPES) + r')"')
    folder = re.compile(r'#\s*include\s+"(?:\.\./)*(?:providers|targets)/[^"]+"')
    for path in sources("daemon/migration"):
        for n, line in enumerate(open(os.path.join(ROOT, path)), 1):
            if type_word.search(line):
                problems.append(f"{path}:{n}: the engine names a provider or target type: {line.strip()}")
            if folder.search(line):
                problems.append(f"{path}:{n}: the engine includes a provider's or target's code: {line.strip()}")
    for path in list(sources("daemon/migration")) + ["daemon/mtv-provider-runtime.c", "daemon/mtv-provider-runtime.h"]:
        for n, line in enumerate(open(os.path.join(ROOT, path)), 1):
            if re.search(r"\bmtv_daemon_\w+\s*\(", line) or '#include "mtv-daemon.h"' in line:
                problems.append(f"{path}:{n}: calls the daemon instead of its host struct: {line.strip()}")
    for p in problems:
        print(p)
    print(f"{len(files)} files, {len(graph)} modules with includes: "
          + ("no problem" if not problems else f"{len(problems)} problems"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
