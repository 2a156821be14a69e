// Named crash points for the reliability suite (SIGKILL at an exact step, once). Inactive unless
// FAILPOINT_DIR is set; a failpoint fires only while the file `<FAILPOINT_DIR>/<name>` exists and
// removes it first, so the restarted worker runs on.
export type Failpoint =
  | "after_claim"
  | "after_submit_sent"
  | "mid_download"
  | "mid_upload"
  | "before_complete";

export function createFailpoints(dir: string | undefined) {
  if (!dir) return (_name: Failpoint) => {};
  return (name: Failpoint) => {
    const file = `${dir}/${name}`;
    try {
      Deno.removeSync(file);
    } catch {
      return; // not armed
    }
    console.error(JSON.stringify({ level: "warn", msg: "failpoint: SIGKILL", failpoint: name }));
    Deno.kill(Deno.pid, "SIGKILL");
  };
}
