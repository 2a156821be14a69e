// `npm run dev`: the whole local stand-in of the Supabase platform on 127.0.0.1:54321 with
// simulated providers (unless real keys are set), until Ctrl-C. See stack.ts.
import { exitOnSetupError } from "./db/cluster.ts";
import { startStack } from "./stack.ts";

const started = performance.now();
const stack = await startStack({
  port: Number(Deno.env.get("PORT") ?? 54321),
  earlyDrop: Deno.env.get("EDGE_EARLY_DROP") === "1",
}).catch(exitOnSetupError);
const secs = ((performance.now() - started) / 1000).toFixed(1);
const simulated = !Deno.env.get("TRIPO_API_KEY") || !Deno.env.get("OPENAI_API_KEY");
console.log(`
MakeIt3D BFF local stack is up (${secs} s)${simulated ? ", providers simulated" : ""}

  API URL          ${stack.url}
  Functions        ${stack.url}/functions/v1/<name>
  Console          ${stack.url}/console   (sign up, start jobs, watch them, operator tab)
  Database         ${stack.dbUrl}
  Pooler           ${stack.poolerUrl}   (transaction mode: what the functions use)
  publishable key  ${stack.keys.publishableKey}
  secret key       ${stack.keys.secretKey}
  anon key         ${stack.keys.anonKey}
  service_role key ${stack.keys.serviceRoleKey}
  JWKS             ${stack.url}/auth/v1/.well-known/jwks.json
  Tripo simulator  ${stack.tripoUrl}/v2/openapi   (control: ${stack.tripoUrl}/__sim/requests)
  OpenAI simulator ${stack.openaiUrl}/v1          (control: ${stack.openaiUrl}/__sim/requests)

Get a user token (apps use the publishable key; the secret key never leaves servers):
  curl -s ${stack.url}/auth/v1/signup -H "apikey: $PUBLISHABLE_KEY" \\
    -H 'content-type: application/json' \\
    -d '{"email":"me@example.com","password":"a-long-password"}' | jq -r .access_token
  (later, sign in with POST /auth/v1/token?grant_type=password)

Ctrl-C stops everything.`);
const stop = async () => {
  console.error("\nstopping…");
  await stack.stop();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
