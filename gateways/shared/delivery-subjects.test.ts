import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkSubject } from "../../runtime/index.ts";
import { channelSubject, filterSubjects, subjectToken } from "./delivery-subjects.ts";

describe("delivery subjects", () => {
  it("escapes what NATS gives meaning to, and nothing else", () => {
    assert.equal(subjectToken("temp"), "temp");
    assert.equal(subjectToken(""), "%");
    assert.equal(subjectToken("a.b"), "a%2Eb");
    assert.equal(subjectToken("*"), "%2A");
    assert.equal(subjectToken(">"), "%3E");
    assert.equal(subjectToken("50%"), "50%25");
    assert.equal(subjectToken("a b\tc"), "a%20b%09c");
    assert.equal(subjectToken("é\u00a0"), "é%C2%A0", "unicode whitespace too");
  });

  it("gives distinct names distinct subjects, each a valid literal subject", () => {
    const names = ["a/b", "a.b", "a/b/", "/a", "a//b", "%", "", "*", ">", "a b", "$SYS/x"].filter((n) => n !== "");
    const subjects = names.map((n) => channelSubject("sb.d", "acme", `topic:${n}`));
    assert.equal(new Set(subjects).size, names.length);
    for (const s of subjects) checkSubject(s, "publish");
    assert.equal(channelSubject("sb.d", "acme", "topic:a/b"), "sb.d.t.acme.a.b");
    assert.equal(channelSubject("sb.d", "acme", "topic:$SYS/x"), "sb.d.s.acme.$SYS.x");
    assert.equal(channelSubject("sb.d", "a.co", "user:bob"), "sb.d.u.a%2Eco.bob");
    assert.equal(channelSubject("sb.d", "acme", "presence:bob"), "sb.d.p.acme.bob");
    assert.equal(channelSubject("sb.d", "acme", "topics"), "sb.d.r.acme");
  });

  it("maps filters to NATS wildcards, a last # also to its parent", () => {
    assert.deepEqual(filterSubjects("sb.d", "acme", "a/+/c"), ["sb.d.t.acme.a.*.c"]);
    assert.deepEqual(filterSubjects("sb.d", "acme", "a/#"), ["sb.d.t.acme.a.>", "sb.d.t.acme.a"]);
    assert.deepEqual(filterSubjects("sb.d", "acme", "#"), ["sb.d.t.acme.>"]);
    assert.deepEqual(filterSubjects("sb.d", "acme", "$SYS/#"), ["sb.d.s.acme.$SYS.>", "sb.d.s.acme.$SYS"]);
    for (const s of filterSubjects("sb.d", "acme", "+/x.y/#")) checkSubject(s, "subscribe");
  });

  it("refuses a name too long to travel between nodes with limit_exceeded", () => {
    assert.throws(() => channelSubject("sb.d", "acme", `topic:${"x".repeat(4000)}`), /too long/);
  });
});
