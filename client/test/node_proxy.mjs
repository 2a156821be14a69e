// The TCP proxy of the network scenarios, for Node (Deno's is tests/_helpers/tcp_proxy.ts): a
// plug the test can pull. `down()` severs every connection and refuses new ones until `up()`;
// `blockWebSockets` refuses only Realtime's upgrade requests.
import net from "node:net";

export function startTcpProxy(target, opts = {}) {
  const t = new URL(target);
  const open = new Set();
  const state = { refused: 0, sockets: 0, down: false };
  const server = net.createServer((client) => {
    client.on("error", () => client.destroy());
    if (state.down) {
      state.refused++;
      return client.destroy();
    }
    client.once("data", (first) => {
      client.pause(); // nothing may flow (and be lost) before the upstream is connected
      const head = first.subarray(0, 512).toString("latin1");
      const isSocket = head.includes("/realtime/v1/websocket");
      if (state.down || (opts.blockWebSockets && isSocket)) {
        state.refused++;
        return client.destroy();
      }
      if (isSocket) state.sockets++;
      const upstream = net.connect(Number(t.port), t.hostname);
      open.add(client);
      open.add(upstream);
      const end = () => {
        open.delete(client);
        open.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      for (const s of [client, upstream]) {
        s.on("error", end);
        s.on("close", end);
      }
      upstream.once("connect", () => {
        upstream.write(first);
        client.pipe(upstream);
        upstream.pipe(client);
      });
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        get refused() {
          return state.refused;
        },
        get sockets() {
          return state.sockets;
        },
        down() {
          state.down = true;
          for (const s of [...open]) s.destroy();
        },
        up() {
          state.down = false;
        },
        close() {
          state.down = true;
          for (const s of [...open]) s.destroy();
          return new Promise((r) => server.close(() => r()));
        },
      });
    });
  });
}
