// Idempotency keys: one per call, random enough that two devices never share one. React Native
// may lack crypto.randomUUID (Hermes without a polyfill has getRandomValues only).

/** What a key needs of Web Crypto (a test may pass one without randomUUID). */
export interface RandomSource {
  getRandomValues(array: Uint8Array): Uint8Array;
  randomUUID?: () => string;
}

export function newIdempotencyKey(c: RandomSource = globalThis.crypto): string {
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  if (!c || typeof c.getRandomValues !== "function") {
    throw new Error(
      "No crypto.getRandomValues here: install a polyfill (react-native-get-random-values) " +
        "or pass idempotencyKey yourself.",
    );
  }
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; // version 4
  b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
