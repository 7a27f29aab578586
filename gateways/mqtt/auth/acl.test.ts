import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { topicMatches } from "../../../actors/index.ts";
import { checkAclPattern, createAcl, filterCovers, type MqttAclRule, type MqttClientIdentity } from "./acl.ts";

const covers = (rule: string, filter: string) => filterCovers(rule.split("/"), filter.split("/"));

describe("a rule's filter covers a requested filter when it matches every topic the request matches", () => {
  const table: [rule: string, filter: string, covered: boolean][] = [
    ["sensors/#", "sensors/+/temp", true],
    ["sensors/#", "sensors/#", true],
    ["sensors/#", "sensors", true], // `#` includes its parent level
    ["sensors/#", "sensors/a/b/c", true],
    ["sensors/#", "other/#", false],
    ["sensors/a", "sensors/#", false],
    ["sensors/a", "sensors/+", false],
    ["sensors/a", "sensors/a", true],
    ["sensors/+", "sensors/a", true],
    ["sensors/+", "sensors/+", true],
    ["sensors/+", "sensors/#", false], // `sensors/#` also matches `sensors` and `sensors/a/b`
    ["sensors/+", "sensors/a/b", false],
    ["sensors/+/temp", "sensors/+/temp", true],
    ["sensors/+/temp", "sensors/k1/temp", true],
    ["sensors/+/temp", "sensors/+/+", false],
    ["sensors/+/#", "sensors/#", false], // not `sensors` itself
    ["sensors/+/#", "sensors/a/#", true],
    ["sensors/+/#", "sensors/+", true],
    ["#", "#", true],
    ["#", "a/b/#", true],
    ["#", "+/+", true],
    ["+/#", "#", true], // every topic has a first level
    ["+", "#", false],
    ["+/+", "+/#", false],
    ["a/b", "a", false],
    ["a", "a/b", false],
    ["a//b", "a//b", true],
    ["a/+/b", "a//b", true], // `+` matches an empty level
    ["/#", "/a", true],
    ["+/#", "/a", true],
    // `$` topics: a filter starting with a wildcard matches none of them ([MQTT-4.7.2-1])
    ["#", "$SYS/#", false],
    ["#", "$SYS", false],
    ["+/#", "$SYS/x", false],
    ["+/x", "$SYS/x", false],
    ["$SYS/#", "$SYS/#", true],
    ["$SYS/#", "$SYS/broker/+", true],
    ["$SYS/+", "$SYS/#", false],
    ["$user/%u", "$user/alice", false], // a literal `%u`: substitution is the ACL's business, not the matcher's
    ["#", "+/x", true], // `+` at the top matches no `$` topic, so `#` covers it
    ["$SYS/x", "+/x", false],
  ];
  for (const [rule, filter, covered] of table) {
    test(`${rule} ${covered ? "covers" : "does not cover"} ${filter}`, () => assert.equal(covers(rule, filter), covered));
  }

  test("agrees with brute force over every filter of up to 3 levels and topics of up to 4", () => {
    // With the filters' literals {a, "", $s} and a fresh level x, topics one level deeper
    // than any filter tell every case apart.
    const filterLevels = ["a", "", "+", "#", "$s"];
    const topicLevels = ["a", "", "x", "$s"];
    const all = (alphabet: string[], max: number): string[][] => {
      const out: string[][] = [];
      const grow = (prefix: string[]) => {
        if (prefix.length > 0) out.push(prefix);
        if (prefix.length < max) for (const l of alphabet) grow([...prefix, l]);
      };
      grow([]);
      return out;
    };
    const filters = all(filterLevels, 3)
      .filter((f) => f.every((l, i) => l !== "#" || i === f.length - 1))
      .map((f) => f.join("/"));
    const topics = all(topicLevels, 4).map((t) => t.join("/"));
    const matched = new Map(filters.map((f) => [f, topics.map((t) => topicMatches(f, t))]));
    let checked = 0;
    for (const r of filters) {
      const rm = matched.get(r)!;
      for (const f of filters) {
        const fm = matched.get(f)!;
        const expected = fm.every((m, i) => !m || rm[i]!);
        assert.equal(covers(r, f), expected, `rule ${JSON.stringify(r)} vs filter ${JSON.stringify(f)}`);
        checked++;
      }
    }
    assert.ok(checked > 10_000, `${checked} pairs`);
  });
});

const alice: MqttClientIdentity = { tenant: "acme", user: "alice", clientId: "phone" };
const bob: MqttClientIdentity = { tenant: "acme", user: "bob", clientId: "bob-laptop" };
const beta: MqttClientIdentity = { tenant: "beta", user: "alice", clientId: "phone" };
const anon: MqttClientIdentity = { tenant: "default", user: "dev-7", clientId: "dev-7", anonymous: true };

function rule(r: Partial<MqttAclRule> & Pick<MqttAclRule, "action" | "topic">): MqttAclRule {
  return { tenant: "*", user: "*", access: "all", ...r };
}

describe("the access list", () => {
  test("no rules: the default decides, for well-formed topics and filters", () => {
    const allow = createAcl({ default: "allow", rules: [] });
    assert.equal(allow.canPublish(alice, "a/b"), true);
    assert.equal(allow.canSubscribe(alice, "a/#"), true);
    assert.equal(allow.canPublish(alice, "a/+"), false, "a wildcard is no topic name");
    assert.equal(allow.canSubscribe(alice, "a/#/b"), false, "malformed filter");
    assert.equal(allow.canSubscribe(alice, "a/b+"), false, "malformed filter");
    assert.equal(allow.canPublish(alice, ""), false);
    const deny = createAcl({ default: "deny", rules: [] });
    assert.equal(deny.canPublish(alice, "a/b"), false);
    assert.equal(deny.canSubscribe(alice, "a/#"), false);
  });

  test("rules are tried in order and the first that matches decides", () => {
    const acl = createAcl({
      default: "deny",
      rules: [
        rule({ action: "deny", topic: "sensors/secret/#" }),
        rule({ action: "allow", topic: "sensors/#" }),
        rule({ action: "allow", access: "subscribe", topic: "news/#" }),
      ],
    });
    assert.equal(acl.canPublish(alice, "sensors/k1/temp"), true);
    assert.equal(acl.canPublish(alice, "sensors/secret/key"), false);
    assert.equal(acl.canSubscribe(alice, "sensors/+/temp"), true);
    assert.equal(acl.canSubscribe(alice, "sensors/secret/#"), false);
    // The deny rule does not cover `sensors/#`, so the allow rule grants the
    // subscription; the deny holds at delivery.
    assert.equal(acl.canSubscribe(alice, "sensors/#"), true);
    assert.equal(acl.canReceive(alice, "sensors/k1/temp"), true);
    assert.equal(acl.canReceive(alice, "sensors/secret/key"), false);
    assert.equal(acl.forClient(alice).checksDelivery, true);
    assert.equal(acl.canSubscribe(alice, "news/today"), true);
    assert.equal(acl.canPublish(alice, "news/today"), false, "news is subscribe-only");
    assert.equal(acl.canPublish(alice, "other"), false, "default deny");
  });

  test("delivery needs checking only when a subscribe rule denies", () => {
    const allowOnly = createAcl({ default: "deny", rules: [rule({ action: "allow", access: "subscribe", topic: "a/#" }), rule({ action: "deny", access: "publish", topic: "a/b" })] });
    assert.equal(allowOnly.forClient(alice).checksDelivery, false);
    assert.equal(allowOnly.canReceive(alice, "a/b"), true, "the publish deny is not about receiving");
    assert.equal(createAcl({ default: "deny", rules: [] }).forClient(alice).checksDelivery, false);
    const denyAll = createAcl({ default: "allow", rules: [rule({ action: "deny", tenant: "beta", topic: "#" })] });
    assert.equal(denyAll.forClient(alice).checksDelivery, false, "a rule for another tenant does not concern alice");
    assert.equal(denyAll.forClient(beta).checksDelivery, true);
  });

  test("rules single out tenants, users and anonymous clients", () => {
    const acl = createAcl({
      default: "deny",
      rules: [
        rule({ action: "allow", tenant: "acme", user: "alice", topic: "alice-only/#" }),
        rule({ action: "allow", tenant: "acme", topic: "acme/#" }),
        rule({ action: "allow", anonymous: true, access: "subscribe", topic: "public/#" }),
        rule({ action: "allow", anonymous: false, topic: "members/#" }),
      ],
    });
    assert.equal(acl.canPublish(alice, "alice-only/x"), true);
    assert.equal(acl.canPublish(bob, "alice-only/x"), false);
    assert.equal(acl.canPublish(beta, "alice-only/x"), false, "another tenant's alice");
    assert.equal(acl.canPublish(bob, "acme/x"), true);
    assert.equal(acl.canPublish(beta, "acme/x"), false);
    assert.equal(acl.canSubscribe(anon, "public/+"), true);
    assert.equal(acl.canSubscribe(alice, "public/+"), false, "an authenticated client is not anonymous");
    assert.equal(acl.canPublish(alice, "members/x"), true);
    assert.equal(acl.canPublish(anon, "members/x"), false);
    assert.equal(acl.canPublish({ ...anon, anonymous: undefined }, "members/x"), true, "anonymous defaults to false");
  });

  test("%u and %c stand for the user and the client id", () => {
    const acl = createAcl({
      default: "deny",
      rules: [
        rule({ action: "allow", topic: "devices/%c/#" }),
        rule({ action: "allow", access: "subscribe", topic: "$user/%u" }),
        rule({ action: "allow", access: "publish", topic: "$user/+" }),
        rule({ action: "allow", topic: "users/%u/%c/state" }),
      ],
    });
    assert.equal(acl.canPublish(alice, "devices/phone/battery"), true);
    assert.equal(acl.canPublish(alice, "devices/bob-laptop/battery"), false);
    assert.equal(acl.canSubscribe(alice, "devices/phone/#"), true);
    assert.equal(acl.canSubscribe(alice, "devices/+/battery"), false, "other clients' devices too");
    assert.equal(acl.canSubscribe(alice, "$user/alice"), true);
    assert.equal(acl.canSubscribe(alice, "$user/bob"), false);
    assert.equal(acl.canSubscribe(alice, "$user/+"), false);
    assert.equal(acl.canPublish(alice, "$user/bob"), true);
    assert.equal(acl.canPublish(bob, "users/bob/bob-laptop/state"), true);
    assert.equal(acl.canPublish(bob, "users/bob/phone/state"), false);
    assert.equal(acl.canPublish(anon, "devices/dev-7/x"), true);
  });

  test("a value with /, + or # is never substituted: an allow does not apply, a deny denies everything", () => {
    const acl = createAcl({
      default: "allow",
      rules: [rule({ action: "allow", topic: "devices/%c/#" }), rule({ action: "deny", access: "publish", topic: "private/%u/#" }), rule({ action: "deny", topic: "devices/#" })],
    });
    const sneaky = { tenant: "acme", user: "a/b", clientId: "a/b" };
    assert.equal(acl.canPublish(alice, "devices/phone/x"), true);
    assert.equal(acl.canPublish(sneaky, "devices/a/b/x"), false, "not let into client a's devices/a/#");
    assert.equal(acl.canPublish(sneaky, "anything"), false, "the deny with %u denies all of its access");
    assert.equal(acl.canSubscribe(sneaky, "anything"), true, "the deny was for publish only");
    const wild = { tenant: "acme", user: "+", clientId: "#" };
    assert.equal(acl.canPublish(wild, "devices/x/y"), false);
    assert.equal(acl.canPublish(wild, "other"), false);
  });

  test("$ topics need rules of their own: # does not reach them", () => {
    const acl = createAcl({ default: "deny", rules: [rule({ action: "allow", topic: "#" })] });
    assert.equal(acl.canPublish(alice, "a/b"), true);
    assert.equal(acl.canPublish(alice, "$user/bob"), false);
    assert.equal(acl.canSubscribe(alice, "$SYS/#"), false);
    assert.equal(acl.canSubscribe(alice, "#"), true);
  });

  test("a shared subscription is checked by its filter", () => {
    const acl = createAcl({ default: "deny", rules: [rule({ action: "allow", access: "subscribe", topic: "jobs/#" })] });
    assert.equal(acl.canSubscribe(alice, "$share/workers/jobs/+"), true);
    assert.equal(acl.canSubscribe(alice, "$share/workers/other/+"), false);
    assert.equal(acl.canSubscribe(alice, "$share/workers"), false, "no filter");
    assert.equal(acl.canSubscribe(alice, "$share//jobs/+"), false, "empty group");
    assert.equal(acl.canSubscribe(alice, "$share/w+/jobs/+"), false, "wildcard in the group");
  });

  test("forClient gives each client its own view; clients no rule concerns share one", () => {
    const acl = createAcl({ default: "deny", rules: [rule({ action: "allow", tenant: "acme", topic: "devices/%c/#" })] });
    const mine = acl.forClient(alice);
    assert.equal(mine.canPublish("devices/phone/x"), true);
    assert.equal(mine.canPublish("devices/other/x"), false);
    for (let i = 0; i < 5; i++) {
      const who = { tenant: "acme", user: `u${i}`, clientId: `c${i}` };
      assert.equal(acl.canPublish(who, `devices/c${i}/x`), true);
      assert.equal(acl.canPublish(who, `devices/c${i + 1}/x`), false);
    }
    const [x, y] = [acl.forClient({ tenant: "beta", user: "x", clientId: "1" }), acl.forClient({ tenant: "beta", user: "y", clientId: "2" })];
    assert.equal(x, y, "one shared view for clients without rules");
    assert.equal(x.canPublish("devices/1/x"), false, "the default");
    assert.notEqual(acl.forClient(alice), mine);
  });
});

describe("rule patterns", () => {
  for (const ok of ["devices/%u/#", "%c", "$user/%u", "a/+/b", "#", "100%/x"]) test(`accepts ${ok}`, () => assert.equal(checkAclPattern(ok), ok));
  for (const [bad, why] of [
    ["devices/id-%u", /stand alone/],
    ["%u%c", /stand alone/],
    ["a/#/b", /'#' stands alone in the last level/],
    ["a+", /'\+' stands alone/],
    ["", /1-4096/],
  ] as const) {
    test(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => checkAclPattern(bad), why));
  }
});
