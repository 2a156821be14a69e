// The typed client the console uses: the package in client/ (its TypeScript source, bundled with
// the page), as an app would use it.
export * from "../../client/src/index.ts";
