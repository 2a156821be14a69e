// The provider simulators (Tripo, OpenAI) for a stack: served in the stack's own event loop
// (the default), or from a `deno run` process of their own (`startStack({ simulatorsProcess:
// true })`), so that generating a model or an image never holds up the loop that serves the
// gateway, Storage and Auth. Run as a program, this file is that process: it serves both on
// free loopback ports, prints their URLs as one JSON line and exits when its stdin closes.
import { PROJECT_ROOT } from "../db/prepare.ts";
import type { Simulator } from "./mod.ts";
import { createOpenAISimulator } from "./openai.ts";
import { createTripoSimulator } from "./tripo.ts";

export interface RunningSimulators {
  tripoUrl: string;
  openaiUrl: string;
  /** The simulators' own process, or null when they share the stack's. */
  pid: number | null;
  stop(): Promise<void>;
}

/** Serves a simulator on a free loopback port (bound first: it builds URLs from its origin). */
function serveOne(make: (publicUrl: string) => Simulator) {
  const holder: { sim?: Simulator } = {};
  const server = Deno.serve(
    {
      hostname: "127.0.0.1",
      port: 0,
      onListen: () => {},
      onError: () => new Response(null, { status: 500 }),
    },
    (req) =>
      holder.sim ? holder.sim.fetch(req) : Promise.resolve(new Response(null, { status: 503 })),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  holder.sim = make(url);
  return { url, close: () => server.shutdown() };
}

function serveBoth() {
  const tripo = serveOne((publicUrl) => createTripoSimulator({ publicUrl }));
  const openai = serveOne((publicUrl) => createOpenAISimulator({ publicUrl }));
  return { tripo, openai };
}

export async function startSimulators(
  opts: { process?: boolean } = {},
): Promise<RunningSimulators> {
  if (!opts.process) {
    const { tripo, openai } = serveBoth();
    return {
      tripoUrl: tripo.url,
      openaiUrl: openai.url,
      pid: null,
      stop: async () => void await Promise.all([tripo.close(), openai.close()]),
    };
  }
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", `${PROJECT_ROOT}localstack/simulators/serve.ts`],
    cwd: PROJECT_ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const stdin = child.stdin.getWriter();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buf = "";
  while (!buf.includes("\n")) {
    const { value, done } = await lines.read();
    if (done) throw new Error("the simulators process exited before it listened");
    buf += value;
  }
  lines.releaseLock();
  const urls = JSON.parse(buf.slice(0, buf.indexOf("\n"))) as { tripo: string; openai: string };
  return {
    tripoUrl: urls.tripo,
    openaiUrl: urls.openai,
    pid: child.pid,
    async stop() {
      await stdin.close().catch(() => {});
      const t = setTimeout(() => child.kill("SIGKILL"), 3000);
      await child.status;
      clearTimeout(t);
    },
  };
}

if (import.meta.main) {
  const { tripo, openai } = serveBoth();
  console.log(JSON.stringify({ tripo: tripo.url, openai: openai.url }));
  // Ends with its stack: stdin closes when the stack stops or its process dies.
  for await (const _ of Deno.stdin.readable) { /* nothing is sent */ }
  await Promise.all([tripo.close(), openai.close()]);
  Deno.exit(0);
}
