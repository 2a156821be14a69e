// A throwaway database with every migration, cloned from this run's template database (made by
// scripts/test.ts with localstack/db/bootstrap/ + `supabase db push`), for tests that must not
// share the running stack's database (where process-jobs would claim their jobs).
import { createDatabase, DEFAULT_ADMIN_URL, dropDatabase } from "../../localstack/db/prepare.ts";

export async function scratchDatabase(label = "scratch"): Promise<{
  url: string;
  name: string;
  drop: () => Promise<void>;
}> {
  const template = Deno.env.get("STACK_TEMPLATE_DB");
  if (!template) throw new Error("STACK_TEMPLATE_DB is not set: run the tests through `npm test`");
  const admin = Deno.env.get("STACK_ADMIN_DB_URL") ?? DEFAULT_ADMIN_URL;
  const name = `${template}_${label}_${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}`
    .toLowerCase();
  const url = await createDatabase(admin, name, template);
  return { url, name, drop: () => dropDatabase(admin, name) };
}
