"""Cycles in a dependency graph (a schedule that cannot be scheduled)."""

from __future__ import annotations

from collections.abc import Iterable

from bim.schedule.types import Dependency

__all__ = ["find_cycles"]


def find_cycles(dependencies: Iterable[Dependency]) -> list[list[str]]:
    """The strongly connected components with a cycle, each as task keys in a cycle's order.

    Tarjan's algorithm, iterative (schedules with thousands of tasks do not hit the recursion
    limit).  A self-dependency is a cycle of one.

    Parameters
    ----------
    dependencies : iterable of Dependency

    Returns
    -------
    list of list of str
        One list per cyclic component, sorted by their first key.

    Examples
    --------
    >>> from bim.schedule.types import Dependency as D
    >>> find_cycles([D("a", "b"), D("b", "c"), D("c", "a"), D("c", "d")])
    [['a', 'b', 'c']]
    """
    graph: dict[str, list[str]] = {}
    self_loops = set()
    for d in dependencies:
        graph.setdefault(d.predecessor_key, []).append(d.successor_key)
        graph.setdefault(d.successor_key, [])
        if d.predecessor_key == d.successor_key:
            self_loops.add(d.predecessor_key)

    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            recurse = False
            succ = graph[node]
            while i < len(succ):
                nxt = succ[i]
                i += 1
                if nxt not in index:
                    work.append((node, i))
                    work.append((nxt, 0))
                    recurse = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if recurse:
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1 or node in self_loops:
                    components.append(_cycle_order(component, graph))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(components, key=lambda c: c[0])


def _cycle_order(component: list[str], graph: dict[str, list[str]]) -> list[str]:
    """Walk the component from its smallest key along edges inside it, for a readable message."""
    members = set(component)
    start = min(component)
    order, node, seen = [start], start, {start}
    while True:
        nxt = next((n for n in graph[node] if n in members and n not in seen), None)
        if nxt is None:
            break
        order.append(nxt)
        seen.add(nxt)
        node = nxt
    order += sorted(members - seen)
    return order
