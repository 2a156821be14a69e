// Import cost probe: loads @supabase/server's core (verifyCredentials) and exits.
import { verifyCredentials } from "@supabase/server/core";
if (typeof verifyCredentials !== "function") throw new Error("not loaded");
