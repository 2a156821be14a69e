// Verifying one ES256 user token: @supabase/server's `verifyCredentials` (core, `user` mode,
// audience authenticated) against our `createTokenVerifier` (supabase/functions/_shared/auth.ts),
// both on the same tokens and JWKS, each token seen for the first time (ours keeps the tokens
// it verified: a token it has seen before is answered from memory, measured apart as
// `ours_repeat_us`). Run as its own process by bench/sections/auth_verify.ts; prints
// {"ours_us":…, "lib_us":…, "ours_repeat_us":…} (µs per verify, median of the rounds).
import * as jose from "jose";
import { verifyCredentials } from "@supabase/server/core";
import { createTokenVerifier } from "../../supabase/functions/_shared/auth.ts";
import { loadConfig } from "../../supabase/functions/_shared/config.ts";

const ROUNDS = 7;
const PER_ROUND = 2000;

const { privateKey, publicKey } = await jose.generateKeyPair("ES256", { extractable: true });
const jwks = {
  keys: [{ ...(await jose.exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" }],
};
const url = "https://ref.supabase.co";
const now = Math.floor(Date.now() / 1000);
const sign = () =>
  new jose.SignJWT({
    sub: crypto.randomUUID(),
    role: "authenticated",
    aud: "authenticated",
    iat: now,
    exp: now + 3600,
  }).setProtectedHeader({ alg: "ES256", typ: "JWT", kid: "k1" }).sign(privateKey);
// Fresh tokens for every verify of every round (warm-up included), so ours never remembers one.
const fresh = await Promise.all(Array.from({ length: 1000 + ROUNDS * PER_ROUND }, sign));
const token = await sign();

const ours = createTokenVerifier(loadConfig({
  SUPABASE_URL: url,
  SUPABASE_PUBLISHABLE_KEY: "sb_publishable_x",
  SUPABASE_JWKS: JSON.stringify(jwks),
  SUPABASE_DB_URL: "postgres://unused",
}, { userTokens: true }));
const env = { url, publishableKeys: {}, secretKeys: {}, jwks };
const lib = async (t: string) => {
  const r = await verifyCredentials({ token: t, apikey: null }, {
    auth: "user",
    audience: "authenticated",
    env,
  });
  if (r.error !== null) throw new Error(`library refused the token: ${JSON.stringify(r.error)}`);
};
const mine = async (t: string) => {
  await ours(t);
};

/** µs per call of `fn` over the next `n` fresh tokens (the same ones for both verifiers). */
async function time(fn: (t: string) => Promise<void>, n: number, from: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await fn(fresh[from + i]);
  return ((performance.now() - t0) * 1000) / n;
}

await time(mine, 1000, 0);
await time(lib, 1000, 0);
let next = 1000;
const o: number[] = [];
const l: number[] = [];
const repeat: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  // Alternating order, so neither always runs first in a round.
  if (r % 2) {
    o.push(await time(mine, PER_ROUND, next));
    l.push(await time(lib, PER_ROUND, next));
  } else {
    l.push(await time(lib, PER_ROUND, next));
    o.push(await time(mine, PER_ROUND, next));
  }
  next += PER_ROUND;
  const t0 = performance.now();
  for (let i = 0; i < PER_ROUND; i++) await ours(token);
  repeat.push(((performance.now() - t0) * 1000) / PER_ROUND);
}
const med = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
console.log(
  JSON.stringify({
    ours_us: med(o),
    lib_us: med(l),
    ours_repeat_us: med(repeat),
    rounds: ROUNDS,
    per_round: PER_ROUND,
  }),
);
