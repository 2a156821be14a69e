// The simulators' control API (`/__sim/<path>`), as the unit tests drive it: a GET without a
// body, a POST with one.

/** The control call's status and JSON answer. */
export async function simControlResponse(s: { url: string }, path: string, body?: unknown) {
  const res = await fetch(`${s.url}/__sim/${path}`, {
    method: body === undefined ? "GET" : "POST",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

/** The control call's JSON answer. */
export async function simControl(s: { url: string }, path: string, body?: unknown) {
  return (await simControlResponse(s, path, body)).json;
}
