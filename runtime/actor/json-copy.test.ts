import assert from "node:assert/strict";
import { test } from "node:test";
import { isSwitchboardError } from "../errors.ts";
import { jsonCopy, jsonRoundTrip } from "./json-copy.ts";

/** Deep equality that also tells -0 from 0 and compares key order. */
function same(actual: unknown, expected: unknown, path = "value"): void {
  if (typeof expected !== "object" || expected === null) {
    assert.ok(Object.is(actual, expected), `${path}: ${String(actual)} !== ${String(expected)}`);
    return;
  }
  assert.equal(typeof actual, "object", path);
  assert.equal(Array.isArray(actual), Array.isArray(expected), path);
  assert.equal(Object.getPrototypeOf(actual), Object.getPrototypeOf(expected), `${path}: prototype`);
  assert.deepEqual(Object.keys(actual as object), Object.keys(expected), `${path}: keys`);
  for (const k of Object.keys(expected)) same((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k], `${path}.${k}`);
}

function viaText(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value) as string);
}

class Point {
  x = 1;
  y = 2;
}

const samples: Record<string, unknown> = {
  flat: { a: 1, b: "two", c: true, d: null },
  nested: { list: [1, [2, [3, { deep: "x" }]]], o: { p: { q: {} } }, empty: [] },
  numbers: { neg0: -0, nan: NaN, inf: Infinity, ninf: -Infinity, big: 1e308, tiny: 5e-324, frac: 0.1 + 0.2, arr: [-0, NaN] },
  dropped: { u: undefined, f: () => 1, s: Symbol("s"), kept: 1, arr: [undefined, () => 1, Symbol("t")] },
  strings: { lone: "\ud800", pair: "😀", ctrl: "\u0000\n\t\"\\", empty: "" },
  keyOrder: { b: 1, 2: "two", a: 2, 1: "one", "-1": "neg" },
  proto: JSON.parse('{"__proto__": {"polluted": true}, "x": 1}'),
  holes: [1, , 3], // eslint-disable-line no-sparse-arrays
  date: { at: new Date(Date.UTC(2026, 0, 1)), bad: new Date(NaN) },
  classes: { p: new Point(), m: new Map([[1, 2]]), set: new Set([1]), re: /x/g, buf: Buffer.from("hi"), u8: new Uint8Array([1, 2]) },
  toJSON: { a: { toJSON: (key: string) => `key:${key}` }, list: [{ toJSON: (key: string) => `idx:${key}` }], gone: { toJSON: () => undefined } },
  wrappers: { n: Object(1), s: Object("s"), b: Object(false) },
  nullProto: { o: Object.assign(Object.create(null), { a: 1 }) },
  ownToJSONRoot: { toJSON: () => ({ replaced: true }) },
  arrayWithToJSON: Object.assign([1, 2], { toJSON: () => "array" }),
  extraArrayProps: Object.assign([1, 2], { extra: 3 }),
  getter: {
    get g() {
      return { computed: 1 };
    },
  },
  deep: (() => {
    let v: unknown = { leaf: true };
    for (let i = 0; i < 200; i++) v = { v, i: [i] };
    return v;
  })(),
  topArray: [{ a: 1 }, "s", 2, null],
};

test("jsonRoundTrip is JSON.parse(JSON.stringify(v)), value by value", () => {
  for (const [name, value] of Object.entries(samples)) {
    same(jsonRoundTrip(value, name), viaText(value), name);
  }
  for (const v of ["s", true, false, 0, -0, 1.5, NaN, Infinity, null]) same(jsonRoundTrip(v, "p"), viaText(v), String(v));
});

test("jsonCopy copies objects as JSON does and returns top-level primitives as they are", () => {
  for (const [name, value] of Object.entries(samples)) same(jsonCopy(value, name), viaText(value), name);
  same(jsonCopy(-0, "p"), -0);
  same(jsonCopy(NaN, "p"), null);
  same(jsonCopy(undefined, "p"), undefined);
});

test("the copy shares nothing mutable with the original", () => {
  const original = { list: [{ n: 1 }], o: { p: [1] } };
  const copy = jsonRoundTrip(original, "v");
  copy.list[0]!.n = 2;
  copy.o.p.push(2);
  assert.deepEqual(original, { list: [{ n: 1 }], o: { p: [1] } });
  assert.equal(Object.getPrototypeOf(jsonRoundTrip(samples.proto, "p")), Object.prototype, "__proto__ stays an own key");
});

test("what JSON refuses is invalid_argument with JSON's own message", () => {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = { back: cyclic };
  const cases: unknown[] = [{ big: 1n }, [1, [2n]], cyclic, { d: new Date(), n: { big: 2n } }, () => 1, Symbol("s"), 3n];
  for (const value of cases) {
    let expected: string | undefined;
    try {
      JSON.stringify(value);
    } catch (err) {
      expected = (err as Error).message;
    }
    for (const copy of [jsonRoundTrip, jsonCopy]) {
      assert.throws(
        () => copy(value, "the argument of x/t:k.m"),
        (err: unknown) => isSwitchboardError(err) && err.code === "invalid_argument" && err.message.startsWith("the argument of x/t:k.m cannot be sent as JSON") && (expected === undefined || err.message.endsWith(expected)),
      );
    }
  }
});

test("getters run once per copy, in JSON's order", () => {
  const seen: string[] = [];
  const value = {
    get a() {
      seen.push("a");
      return 1;
    },
    nested: {
      get b() {
        seen.push("b");
        return 2;
      },
    },
    get c() {
      seen.push("c");
      return 3;
    },
  };
  same(jsonRoundTrip(value, "v"), { a: 1, nested: { b: 2 }, c: 3 });
  assert.deepEqual(seen, ["a", "b", "c"]);
});
