// The HS256 path of the user-token check runs on node:crypto (synchronous) instead of jose's
// crypto.subtle path. This holds it to jose: for every token below, ours accepts only when
// jose.jwtVerify (HS256, audience "authenticated") accepts and our own user rules (role,
// UUID sub, exp present) hold, and the valid tokens are accepted by both. Ours is stricter in
// one way on purpose: the signature must be spelled as canonical base64url (jose also takes
// padding, the standard alphabet and stray spare bits). No HTTP: the verifier is called directly.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createHmac } from "node:crypto";
import * as jose from "jose";
import { createTokenVerifier } from "../../supabase/functions/_shared/auth.ts";
import type { Config } from "../../supabase/functions/_shared/config.ts";

const SECRET = "token-verifier-test-secret-0123456789abcdef";
const key = new TextEncoder().encode(SECRET);
const verify = createTokenVerifier({ legacyJwtSecret: SECRET } as Config);
const sub = crypto.randomUUID();
const now = Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const mac = (input: string, k = SECRET) =>
  createHmac("sha256", k).update(input).digest("base64url");
/** A token with exactly this header and payload, signed (or not) as given. */
const raw = (header: unknown, payload: unknown, sign: (input: string) => string = mac) => {
  const input = `${b64(header)}.${b64(payload)}`;
  return `${input}.${sign(input)}`;
};
const H = { alg: "HS256", typ: "JWT" };
const good = { sub, role: "authenticated", aud: "authenticated", iat: now, exp: now + 600 };

const cases: Record<string, string> = {
  "valid": raw(H, good),
  "valid, audience list": raw(H, { ...good, aud: ["other", "authenticated"] }),
  "valid, nbf in the past": raw(H, { ...good, nbf: now - 10 }),
  "signed with another secret": raw(H, good, (i) => mac(i, "another-secret-0123456789abcdefghij")),
  "payload changed after signing": (() => {
    const t = raw(H, good).split(".");
    return [t[0], b64({ ...good, sub: crypto.randomUUID() }), t[2]].join(".");
  })(),
  "signature truncated": raw(H, good).slice(0, -4),
  "signature padded": raw(H, good, (i) => `${mac(i)}=`),
  "signature in the standard base64 alphabet": (() => {
    // A payload whose MAC spells differently in the two alphabets (it has a '-' or '_').
    for (let jti = 0;; jti++) {
      const input = `${b64(H)}.${b64({ ...good, jti })}`;
      if (/[-_]/.test(mac(input))) {
        return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64")}`
          .replace(/=+$/, "");
      }
    }
  })(),
  "signature with a trailing space": `${raw(H, good)} `,
  "signature with its last character's spare bits set": (() => {
    const t = raw(H, good);
    const last = t.at(-1)!;
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    return t.slice(0, -1) + alphabet[alphabet.indexOf(last) + 1];
  })(),
  "signature empty": raw(H, good, () => ""),
  "alg none, unsigned": raw({ alg: "none" }, good, () => ""),
  "expired": raw(H, { ...good, exp: now - 5 }),
  "expires now": raw(H, { ...good, exp: now }),
  "exp not a number": raw(H, { ...good, exp: String(now + 600) }),
  "no exp": raw(H, { sub, role: "authenticated", aud: "authenticated", iat: now }),
  "not yet valid": raw(H, { ...good, nbf: now + 600 }),
  "nbf not a number": raw(H, { ...good, nbf: "soon" }),
  "iat not a number": raw(H, { ...good, iat: "today" }),
  "wrong audience": raw(H, { ...good, aud: "anon" }),
  "audience list without ours": raw(H, { ...good, aud: ["anon", "service"] }),
  "no audience": raw(H, { sub, role: "authenticated", iat: now, exp: now + 600 }),
  "crit header": raw({ ...H, crit: ["b64"], b64: false }, good),
  "payload not an object": raw(H, ["not", "an", "object"]),
  "payload not JSON": (() => {
    const input = `${b64(H)}.${Buffer.from("not json").toString("base64url")}`;
    return `${input}.${mac(input)}`;
  })(),
  "four segments": `${raw(H, good)}.extra`,
  "two segments": raw(H, good).split(".").slice(0, 2).join("."),
  "role anon": raw(H, { ...good, role: "anon" }),
  "sub not a UUID": raw(H, { ...good, sub: "user-1" }),
};

async function joseAccepts(token: string): Promise<boolean> {
  try {
    const { payload } = await jose.jwtVerify(token, key, {
      algorithms: ["HS256"],
      audience: "authenticated",
    });
    return payload.role === "authenticated" && typeof payload.sub === "string" &&
      /^[0-9a-f-]{36}$/i.test(payload.sub) && typeof payload.exp === "number";
  } catch {
    return false;
  }
}

async function oursAccepts(token: string): Promise<boolean> {
  try {
    const user = await verify(token);
    assert.equal(user.id, sub);
    return true;
  } catch (e) {
    assert.equal((e as { status?: number }).status, 401, `not a 401 for ${token}: ${e}`);
    return false;
  }
}

const VALID = ["valid", "valid, audience list", "valid, nbf in the past"];

Deno.test("the HS256 user-token check accepts nothing jose refuses", async () => {
  const accepted: string[] = [];
  const onlyJose: string[] = [];
  for (const [name, token] of Object.entries(cases)) {
    const [ours, theirs] = [await oursAccepts(token), await joseAccepts(token)];
    assert.ok(!ours || theirs, `${name}: ours accepts a token jose refuses`);
    if (ours) accepted.push(name);
    else if (theirs) onlyJose.push(name);
  }
  assert.deepEqual(accepted, VALID);
  for (const name of onlyJose) {
    assert.ok(name.startsWith("signature "), `${name}: jose accepts it, ours does not`);
  }
});
