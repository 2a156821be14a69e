// Import cost probe: imports nothing (the cost of `deno run` itself).
if (typeof Deno.pid !== "number") throw new Error("unreachable");
