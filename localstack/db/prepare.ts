// Per-run databases for the local stand-in: bootstrap (what Supabase's image provides), then
// every migration applied by the real Supabase CLI (`supabase db push --db-url`).
import postgres from "postgres";

export const PROJECT_ROOT = new URL("../../", import.meta.url).pathname;
const BOOTSTRAP_DIR = new URL("./bootstrap/", import.meta.url).pathname;
const SUPABASE_CLI = `${PROJECT_ROOT}node_modules/.bin/supabase`;

export const DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres";

/** Replaces the database name in a Postgres URL. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function databaseName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

function quoteIdent(name: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name: ${name}`);
  return `"${name}"`;
}

async function withAdmin<T>(adminUrl: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function databaseExists(adminUrl: string, name: string): Promise<boolean> {
  return await withAdmin(adminUrl, async (sql) => {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    return rows.length > 0;
  });
}

export async function createDatabase(
  adminUrl: string,
  name: string,
  template?: string,
): Promise<string> {
  await withAdmin(adminUrl, async (sql) => {
    const from = template ? ` template ${quoteIdent(template)}` : "";
    await sql.unsafe(`create database ${quoteIdent(name)}${from}`);
  });
  return withDatabase(adminUrl, name);
}

export async function dropDatabase(adminUrl: string, name: string): Promise<void> {
  await withAdmin(adminUrl, async (sql) => {
    await sql.unsafe(`drop database if exists ${quoteIdent(name)} with (force)`);
  });
}

/** Drops databases this tool made for earlier runs that were not cleaned up (crashed runs). */
export async function dropStaleDatabases(adminUrl: string, prefix: string, olderThanMs: number) {
  const names = await withAdmin(adminUrl, async (sql) => {
    const rows = await sql<{ datname: string }[]>`
      select datname from pg_database where datname like ${prefix + "%"}`;
    return rows.map((r) => r.datname);
  });
  const now = Date.now();
  for (const name of names) {
    const stamp = Number(name.slice(prefix.length).split("_")[0]);
    if (Number.isFinite(stamp) && now - stamp > olderThanMs) await dropDatabase(adminUrl, name);
  }
}

/** The bootstrap as one script: bootstrap/*.sql in name order (what Supabase's image provides). */
async function bootstrapSql(): Promise<string> {
  const names: string[] = [];
  for await (const e of Deno.readDir(BOOTSTRAP_DIR)) {
    if (e.isFile && e.name.endsWith(".sql")) names.push(e.name);
  }
  names.sort();
  const parts = await Promise.all(names.map((n) => Deno.readTextFile(`${BOOTSTRAP_DIR}${n}`)));
  return parts.join("\n");
}

/** Applies the bootstrap, then every migration (through the Supabase CLI), to `dbUrl`. */
export async function migrate(dbUrl: string, opts: { quiet?: boolean } = {}): Promise<void> {
  const sql = postgres(dbUrl, { max: 1, onnotice: () => {} });
  try {
    await sql.unsafe(await bootstrapSql());
  } finally {
    await sql.end({ timeout: 5 });
  }
  const u = new URL(dbUrl);
  u.searchParams.set("sslmode", "disable");
  const cmd = new Deno.Command(SUPABASE_CLI, {
    args: ["db", "push", "--db-url", u.toString(), "--yes", "--include-all"],
    cwd: PROJECT_ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
  });
  const out = await cmd.output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`supabase db push failed for ${databaseName(dbUrl)}:\n${text}`);
  if (!opts.quiet) {
    for (const line of text.split("\n")) {
      if (/Applying migration|up to date/.test(line)) console.error(`[db] ${line.trim()}`);
    }
  }
}
