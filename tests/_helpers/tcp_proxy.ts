// A TCP proxy in front of the stack that a test can pull the plug on, as a phone's network does:
// `down()` severs every connection and refuses new ones until `up()`; `blockWebSockets` refuses
// only Realtime's upgrade requests (a network that lets plain HTTP through but no sockets).
export interface TcpProxy {
  url: string;
  down(): void;
  up(): void;
  /** Connections refused (while down, or WebSocket upgrades when blocked). */
  readonly refused: number;
  /** Realtime WebSocket connections let through. */
  readonly sockets: number;
  close(): Promise<void>;
}

export function startTcpProxy(
  target: string,
  opts: { blockWebSockets?: boolean } = {},
): TcpProxy {
  const t = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  let isDown = false;
  const state = { refused: 0, sockets: 0 };
  const drop = (c: Deno.Conn) => {
    open.delete(c);
    try {
      c.close();
    } catch { /* already closed */ }
  };

  async function serve(client: Deno.Conn) {
    if (isDown) {
      state.refused++;
      return drop(client);
    }
    let upstream: Deno.Conn | undefined;
    try {
      const reader = client.readable.getReader();
      const first = await reader.read();
      if (first.done) return drop(client);
      const head = new TextDecoder().decode(first.value.slice(0, 512));
      if (opts.blockWebSockets && head.includes("/realtime/v1/websocket")) {
        state.refused++;
        reader.releaseLock();
        return drop(client);
      }
      if (head.includes("/realtime/v1/websocket")) state.sockets++;
      upstream = await Deno.connect({ hostname: t.hostname, port: Number(t.port) });
      open.add(client);
      open.add(upstream);
      const w = upstream.writable.getWriter();
      await w.write(first.value);
      w.releaseLock();
      reader.releaseLock();
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      /* a severed connection ends here */
    } finally {
      drop(client);
      if (upstream) drop(upstream);
    }
  }

  const accepting = (async () => {
    for await (const c of listener) serve(c);
  })().catch(() => {});

  return {
    url: `http://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    get refused() {
      return state.refused;
    },
    get sockets() {
      return state.sockets;
    },
    down() {
      isDown = true;
      for (const c of [...open]) drop(c);
    },
    up() {
      isDown = false;
    },
    async close() {
      isDown = true;
      for (const c of [...open]) drop(c);
      listener.close();
      await accepting;
    },
  };
}
