// @supabase/server vs our verifier (no target: it justifies keeping ours, which
// tests/unit/verifier_vs_supabase_server.test.ts holds to the library's answers): µs per verify
// of one ES256 user token (bench/auth/verify_probe.ts, its own process), and the import cost:
// the wall time of a cold `deno run` of a file importing each (bench/auth/import_*.ts), beside
// one importing nothing; RUNS runs each, interleaved, median.
import { PROJECT_ROOT } from "../../localstack/db/prepare.ts";
import type { BenchContext, Section } from "../context.ts";
import { fmt, median, round } from "../stats.ts";

const RUNS = 7;

async function denoRun(file: string): Promise<{ ms: number; stdout: string }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-prompt", `${PROJECT_ROOT}bench/auth/${file}`],
    cwd: PROJECT_ROOT,
    env: { DENO_NO_PACKAGE_JSON: "1", DENO_NO_UPDATE_CHECK: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`${file}: ${new TextDecoder().decode(out.stderr).slice(-800)}`);
  return { ms, stdout: new TextDecoder().decode(out.stdout) };
}

export const authVerify: Section = {
  name: "user-token verification: @supabase/server vs ours",
  async run(ctx: BenchContext) {
    const probe = JSON.parse((await denoRun("verify_probe.ts")).stdout) as {
      ours_us: number;
      lib_us: number;
      ours_repeat_us: number;
    };
    const files = { ours: "import_ours.ts", lib: "import_lib.ts", none: "import_none.ts" };
    const ms: Record<keyof typeof files, number[]> = { ours: [], lib: [], none: [] };
    // One run each first, so the module cache on disk is warm for every measured run.
    for (const f of Object.values(files)) await denoRun(f);
    for (let i = 0; i < RUNS; i++) {
      for (const k of Object.keys(files) as (keyof typeof files)[]) {
        ms[k].push((await denoRun(files[k])).ms);
      }
    }
    const m = { ours: median(ms.ours), lib: median(ms.lib), none: median(ms.none) };
    ctx.report.info(
      "verify one ES256 user token seen for the first time: our createTokenVerifier vs @supabase/server verifyCredentials",
      `ours ${fmt(probe.ours_us, " µs")}, library ${fmt(probe.lib_us, " µs")} per verify`,
      `library / ours ${fmt(probe.lib_us / probe.ours_us)}×; ours on a token it verified before ${
        fmt(probe.ours_repeat_us, " µs")
      }`,
    );
    ctx.report.info(
      `import cost: cold \`deno run\` of a file importing each (median of ${RUNS})`,
      `ours ${fmt(m.ours, " ms")}, @supabase/server/core ${fmt(m.lib, " ms")}`,
      `importing nothing ${fmt(m.none, " ms")}: ours +${fmt(m.ours - m.none, " ms")}, library +${
        fmt(m.lib - m.none, " ms")
      }`,
    );
    ctx.report.set("auth_verify", {
      verify_us: {
        ours: round(probe.ours_us),
        supabase_server: round(probe.lib_us),
        ours_repeat: round(probe.ours_repeat_us),
      },
      cold_run_ms: { ours: round(m.ours), supabase_server: round(m.lib), nothing: round(m.none) },
    });
  },
};
