import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { topicMatches } from "../../actors/index.ts";
import { TopicTree } from "./topic-tree.ts";

function matches(tree: TopicTree<string>, name: string): string[] {
  const out: string[] = [];
  tree.match(name, (v) => out.push(v));
  return out.sort();
}

describe("TopicTree", () => {
  it("matches single- and multi-level wildcards as MQTT does", () => {
    const tree = new TopicTree<string>();
    for (const f of ["a/b", "a/+", "a/#", "#", "+/b", "+", "a/+/c", "/#", "+/+", "a//b"]) tree.add(f, f);
    assert.deepEqual(matches(tree, "a/b"), ["#", "+/+", "+/b", "a/#", "a/+", "a/b"].sort());
    assert.deepEqual(matches(tree, "a"), ["#", "+", "a/#"].sort(), "a/# matches its parent level");
    assert.deepEqual(matches(tree, "a/x/c"), ["#", "a/#", "a/+/c"].sort());
    assert.deepEqual(matches(tree, "/x"), ["#", "+/+", "/#"].sort(), "an empty first level is a level");
    assert.deepEqual(matches(tree, "a//b"), ["#", "a/#", "a//b"].sort());
  });

  it("keeps topics starting with $ away from filters that start with a wildcard [MQTT-4.7.2-1]", () => {
    const tree = new TopicTree<string>();
    for (const f of ["#", "+/info", "$SYS/#", "$SYS/+", "+"]) tree.add(f, f);
    assert.deepEqual(matches(tree, "$SYS/info"), ["$SYS/#", "$SYS/+"]);
    assert.deepEqual(matches(tree, "$SYS"), ["$SYS/#"]);
    assert.deepEqual(matches(tree, "SYS/info"), ["#", "+/info"].sort());
  });

  it("adds a (filter, value) pair once and removes it, pruning empty branches", () => {
    const tree = new TopicTree<string>();
    assert.equal(tree.add("a/b/c", "x"), true);
    assert.equal(tree.add("a/b/c", "x"), false);
    assert.equal(tree.add("a/#", "x"), true);
    assert.equal(tree.size, 2);
    assert.equal(tree.remove("a/b/c", "y"), false);
    assert.equal(tree.remove("a/b", "x"), false);
    assert.equal(tree.remove("a/b/c", "x"), true);
    assert.equal(tree.remove("a/#", "x"), true);
    assert.equal(tree.size, 0);
    assert.equal(tree.hasMatch("a/b/c"), false);
  });

  it("one value under a filter, then several, then one again: each added once, visited in the order added", () => {
    const tree = new TopicTree<string>();
    const visit = (name: string) => {
      const out: string[] = [];
      tree.match(name, (v) => out.push(v));
      return out;
    };
    for (const filter of ["d/1", "d/#"]) {
      assert.equal(tree.add(filter, "x"), true);
      assert.equal(tree.add(filter, "x"), false, "a single value is there already");
      assert.equal(tree.add(filter, "y"), true);
      assert.equal(tree.add(filter, "y"), false, "in a set of two");
      assert.equal(tree.add(filter, "z"), true);
      assert.equal(tree.remove(filter, "y"), true);
      assert.equal(tree.remove(filter, "y"), false);
    }
    assert.deepEqual(visit("d/1"), ["x", "z", "x", "z"], "the exact values, then the # ones, each in order");
    assert.equal(tree.remove("d/1", "x"), true);
    assert.equal(tree.add("d/1", "z"), false, "down to one value, z is still there once");
    assert.deepEqual(visit("d/1"), ["z", "x", "z"]);
    assert.equal(tree.remove("d/1", "z"), true);
    assert.equal(tree.remove("d/#", "z"), true);
    assert.equal(tree.remove("d/#", "x"), true);
    assert.equal(tree.size, 0);
    assert.deepEqual(visit("d/1"), []);
  });

  it("agrees with the reference matcher on random filters and names", () => {
    let seed = 42;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const words = ["a", "b", "", "$s", "c"];
    const name = () => Array.from({ length: 1 + rand(4) }, () => words[rand(words.length)]!).join("/");
    const filter = () => {
      const levels = Array.from({ length: 1 + rand(4) }, () => ["a", "b", "", "+", "$s"][rand(5)]!);
      if (rand(3) === 0) levels.push("#");
      return levels.join("/");
    };
    const tree = new TopicTree<string>();
    const filters = new Set<string>();
    for (let i = 0; i < 300; i++) filters.add(filter());
    for (const f of filters) tree.add(f, f);
    for (const f of [...filters].filter((_, i) => i % 3 === 0)) {
      tree.remove(f, f);
      filters.delete(f);
    }
    for (let i = 0; i < 2000; i++) {
      const n = name();
      assert.deepEqual(matches(tree, n), [...filters].filter((f) => topicMatches(f, n)).sort(), n);
    }
  });
});
