/**
 * Topic filters to values, matched against topic names with MQTT's rules (see
 * `actors/messaging/topic-name.ts`): `+` is one level, a last `#` is its parent level
 * and everything below, and a name starting with `$` is matched by no filter that
 * starts with a wildcard. Filters and names must already be checked.
 *
 * Filters without wildcards, most of them (a device's own topic), are one map lookup
 * by the whole name. The others are a tree: matching walks one path per level, plus
 * the `+` branch, so a publish costs the depth of the tree, not the number of
 * subscriptions; with no wildcard filter at all the name is not even split.
 */
export class TopicTree<V> {
  /** Filters without `+` or `#`, by the whole filter. */
  readonly #exact = new OneOrMoreMap<string, V>();
  readonly #root = new TreeNode<V>();
  #size = 0;

  /** Values stored, counting each (filter, value) pair once. */
  get size(): number {
    return this.#size;
  }

  /** Adds `value` under `filter`; false if it was there already. */
  add(filter: string, value: V): boolean {
    if (!hasWildcard(filter)) {
      if (!this.#exact.add(filter, value)) return false;
      this.#size++;
      return true;
    }
    let node = this.#root;
    const levels = filter.split("/");
    for (let i = 0; i < levels.length; i++) {
      const level = levels[i]!;
      if (level === "#") {
        if (oneOrMoreHas(node.hash, value)) return false;
        node.hash = oneOrMoreAdd(node.hash, value);
        this.#size++;
        return true;
      }
      node = level === "+" ? (node.plus ??= new TreeNode()) : node.child(level);
    }
    if (oneOrMoreHas(node.exact, value)) return false;
    node.exact = oneOrMoreAdd(node.exact, value);
    this.#size++;
    return true;
  }

  /** Removes `value` from under `filter`; false if it was not there. Empty branches go. */
  remove(filter: string, value: V): boolean {
    if (!hasWildcard(filter)) {
      if (!this.#exact.delete(filter, value)) return false;
      this.#size--;
      return true;
    }
    const levels = filter.split("/");
    const path: TreeNode<V>[] = [this.#root];
    let node: TreeNode<V> | undefined = this.#root;
    let removed = false;
    for (let i = 0; i < levels.length && node !== undefined; i++) {
      const level = levels[i]!;
      if (level === "#") {
        removed = oneOrMoreHas(node.hash, value);
        node.hash = oneOrMoreDelete(node.hash, value);
        node = undefined;
        break;
      }
      node = level === "+" ? node.plus : node.children?.get(level);
      if (node !== undefined) path.push(node);
    }
    if (node !== undefined && path.length === levels.length + 1) {
      removed = oneOrMoreHas(node.exact, value);
      node.exact = oneOrMoreDelete(node.exact, value);
    }
    if (!removed) return false;
    this.#size--;
    // Prune from the leaf up while nodes are empty.
    for (let i = path.length - 1; i > 0; i--) {
      const n = path[i]!;
      if (!n.empty) break;
      const parent = path[i - 1]!;
      const level = levels[i - 1]!;
      if (level === "+") parent.plus = undefined;
      else {
        parent.children!.delete(level);
        if (parent.children!.size === 0) parent.children = undefined;
      }
    }
    return true;
  }

  /** Calls `visit` once for each (filter, value) that matches `name`. */
  match(name: string, visit: (value: V) => void): void {
    const exact = this.#exact.get(name);
    if (exact !== undefined) oneOrMoreEach(exact, visit);
    const root = this.#root;
    if (root.empty) return;
    const levels = name.split("/");
    if (name.charCodeAt(0) === 0x24 /* $ */) {
      // [MQTT-4.7.2-1]: no wildcard at the first level matches a `$` name.
      const child = root.children?.get(levels[0]!);
      if (child !== undefined) matchFrom(child, levels, 1, visit);
      return;
    }
    matchFrom(root, levels, 0, visit);
  }

  /** Whether any filter matches `name`. */
  hasMatch(name: string): boolean {
    let found = false;
    this.match(name, () => void (found = true));
    return found;
  }
}

/** Filters are checked: a `+` or `#` anywhere is a wildcard level. */
function hasWildcard(filter: string): boolean {
  return filter.includes("+") || filter.includes("#");
}

class TreeNode<V> {
  children: Map<string, TreeNode<V>> | undefined;
  plus: TreeNode<V> | undefined;
  /** Values of filters ending here with `/#` (or `#` alone at the root). */
  hash: OneOrMore<V> | undefined;
  /** Values of (wildcard) filters ending exactly here: `a/+` at the node under `+`. */
  exact: OneOrMore<V> | undefined;

  child(level: string): TreeNode<V> {
    const children = (this.children ??= new Map());
    let node = children.get(level);
    if (node === undefined) children.set(level, (node = new TreeNode()));
    return node;
  }

  get empty(): boolean {
    return this.children === undefined && this.plus === undefined && this.hash === undefined && this.exact === undefined;
  }
}

function matchFrom<V>(node: TreeNode<V>, levels: readonly string[], i: number, visit: (value: V) => void): void {
  // `x/#` matches `x` itself and everything below it.
  if (node.hash !== undefined) oneOrMoreEach(node.hash, visit);
  if (i === levels.length) {
    if (node.exact !== undefined) oneOrMoreEach(node.exact, visit);
    return;
  }
  const child = node.children?.get(levels[i]!);
  if (child !== undefined) matchFrom(child, levels, i + 1, visit);
  if (node.plus !== undefined) matchFrom(node.plus, levels, i + 1, visit);
}

/**
 * One value, or a set of them once there are two. Most filters and channels have one
 * subscriber (a device's own topic, a user's inbox), and an empty `Set` alone costs
 * about 150 bytes: with 100,000 connections, that is the difference between a gateway
 * that fits and one that does not.
 */
export type OneOrMore<V> = V | More<V>;
class More<V> extends Set<V> {}

export function oneOrMoreHas<V>(s: OneOrMore<V> | undefined, value: V): boolean {
  return s instanceof More ? s.has(value) : s !== undefined && s === value;
}

/** `s` with `value` added (a value already there is kept once). */
export function oneOrMoreAdd<V>(s: OneOrMore<V> | undefined, value: V): OneOrMore<V> {
  if (s === undefined || s === value) return value;
  if (s instanceof More) return s.add(value);
  return new More<V>([s as V, value]);
}

/** `s` without `value`; undefined once empty. A set down to one value gives it back alone. */
export function oneOrMoreDelete<V>(s: OneOrMore<V> | undefined, value: V): OneOrMore<V> | undefined {
  if (!(s instanceof More)) return s === value ? undefined : s;
  s.delete(value);
  if (s.size > 1) return s;
  return s.size === 0 ? undefined : (s.values().next().value as V);
}

/** Visits each value in the order added; a value removed by `visit` before its turn is not visited. */
export function oneOrMoreEach<V>(s: OneOrMore<V>, visit: (value: V) => void): void {
  if (s instanceof More) for (const v of s) visit(v);
  else visit(s);
}

export function oneOrMoreSize<V>(s: OneOrMore<V> | undefined): number {
  return s instanceof More ? s.size : s === undefined ? 0 : 1;
}

/** Keys to one value or more (`OneOrMore`): a key with one value holds no set. */
export class OneOrMoreMap<K, V> {
  readonly #map = new Map<K, OneOrMore<V>>();

  get(key: K): OneOrMore<V> | undefined {
    return this.#map.get(key);
  }

  /** Adds `value` under `key`; false if it was there already. */
  add(key: K, value: V): boolean {
    const held = this.#map.get(key);
    if (oneOrMoreHas(held, value)) return false;
    const now = oneOrMoreAdd(held, value);
    if (now !== held) this.#map.set(key, now);
    return true;
  }

  /** Removes `value` from under `key`; false if it was not there. A key left with none goes. */
  delete(key: K, value: V): boolean {
    const held = this.#map.get(key);
    if (!oneOrMoreHas(held, value)) return false;
    const now = oneOrMoreDelete(held, value);
    if (now === undefined) this.#map.delete(key);
    else if (now !== held) this.#map.set(key, now);
    return true;
  }

  values(): IterableIterator<OneOrMore<V>> {
    return this.#map.values();
  }
}
