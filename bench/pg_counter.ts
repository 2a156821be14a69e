// A loopback TCP proxy in front of Postgres that counts statements and round trips by reading the
// frontend side of the wire protocol: every Sync (extended protocol) or Query (simple protocol)
// ends a statement and is one round trip the client waits for; so is every Flush, which
// postgres.js sends after Parse + Describe to learn a statement's parameter types before it binds
// them (always, with prepare off: a statement with parameters costs two round trips). Each is
// labelled with the SQL it ran (the bff.* function name when there is one), so a count can be
// broken down by statement.
// Used only in the counting phase; the latency phases talk to Postgres directly.

const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const decoder = new TextDecoder();

function label(query: string): string {
  const fn = query.match(/\b(bff\.[a-z_]+)\s*\(/i);
  if (fn) return fn[1];
  return query.replace(/\s+/g, " ").trim().slice(0, 48);
}

class FrontendParser {
  #buf = new Uint8Array(0);
  #started = false;
  #statements = new Map<string, string>();
  #pending: string[] = [];
  constructor(private onRoundTrip: (label: string, endsStatement: boolean) => void) {}

  push(chunk: Uint8Array) {
    const merged = new Uint8Array(this.#buf.length + chunk.length);
    merged.set(this.#buf);
    merged.set(chunk, this.#buf.length);
    this.#buf = merged;
    let off = 0;
    const view = new DataView(merged.buffer);
    for (;;) {
      if (!this.#started) {
        if (merged.length - off < 8) break;
        const len = view.getInt32(off);
        if (merged.length - off < len) break;
        const code = view.getInt32(off + 4);
        // SSL/GSS negotiation is followed by the real startup message.
        if (code !== SSL_REQUEST && code !== GSS_REQUEST) this.#started = true;
        off += len;
        continue;
      }
      if (merged.length - off < 5) break;
      const type = String.fromCharCode(merged[off]);
      const len = view.getInt32(off + 1);
      if (merged.length - off < 1 + len) break;
      this.#message(type, merged.subarray(off + 5, off + 1 + len));
      off += 1 + len;
    }
    this.#buf = merged.slice(off);
  }

  #message(type: string, body: Uint8Array) {
    const cstrings = (n: number) => {
      const out: string[] = [];
      let start = 0;
      for (let i = 0; i < body.length && out.length < n; i++) {
        if (body[i] === 0) {
          out.push(decoder.decode(body.subarray(start, i)));
          start = i + 1;
        }
      }
      return out;
    };
    if (type === "P") {
      const [name, query] = cstrings(2);
      this.#statements.set(name, query);
      this.#pending.push(label(query));
    } else if (type === "B") {
      const [, name] = cstrings(2);
      this.#pending.push(label(this.#statements.get(name) ?? "?"));
    } else if (type === "Q") {
      const [query] = cstrings(1);
      this.onRoundTrip(label(query), true);
    } else if (type === "H") {
      this.onRoundTrip(this.#pending[0] ?? "flush", false);
    } else if (type === "S") {
      this.onRoundTrip(this.#pending[0] ?? "sync", true);
      this.#pending = [];
    }
  }
}

export interface PgCounter {
  url: string;
  reset(): void;
  /** total: round trips; statements: Syncs and Queries; byLabel: round trips per statement. */
  snapshot(): { total: number; statements: number; byLabel: Record<string, number> };
  close(): void;
}

/** Starts the proxy; `dbUrl` is the real database, `url` the same database through the proxy. */
export function startPgCounter(dbUrl: string): PgCounter {
  const target = new URL(dbUrl);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  let total = 0;
  let statements = 0;
  let byLabel: Record<string, number> = {};
  const count = (l: string, endsStatement: boolean) => {
    total++;
    if (endsStatement) statements++;
    byLabel[l] = (byLabel[l] ?? 0) + 1;
  };

  (async () => {
    for await (const client of listener) {
      conns.add(client);
      (async () => {
        let server: Deno.Conn | undefined;
        try {
          server = await Deno.connect({
            hostname: target.hostname,
            port: Number(target.port || 5432),
          });
          conns.add(server);
          const parser = new FrontendParser(count);
          const down = server.readable.pipeTo(client.writable).catch(() => {});
          const writer = server.writable.getWriter();
          for await (const chunk of client.readable) {
            parser.push(chunk);
            await writer.write(chunk);
          }
          await writer.close().catch(() => {});
          await down;
        } catch {
          // a closed peer ends the pair
        } finally {
          for (const c of [client, server]) {
            if (!c) continue;
            conns.delete(c);
            try {
              c.close();
            } catch { /* already closed */ }
          }
        }
      })();
    }
  })().catch(() => {});

  const proxied = new URL(dbUrl);
  proxied.hostname = "127.0.0.1";
  proxied.port = String((listener.addr as Deno.NetAddr).port);
  return {
    url: proxied.toString(),
    reset() {
      total = 0;
      statements = 0;
      byLabel = {};
    },
    snapshot: () => ({ total, statements, byLabel: { ...byLabel } }),
    close() {
      try {
        listener.close();
      } catch { /* already closed */ }
      for (const c of conns) {
        try {
          c.close();
        } catch { /* already closed */ }
      }
    },
  };
}
