// Import cost probe: loads our user-token verifier (supabase/functions/_shared/auth.ts) and exits.
import { createTokenVerifier } from "../../supabase/functions/_shared/auth.ts";
if (typeof createTokenVerifier !== "function") throw new Error("not loaded");
