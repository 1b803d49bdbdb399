// Ask/tell end to end against a real `tune serve` with tokens (no
// --insecure): the binary from $TUNE_BINARY, or built from this checkout
// with go. Its first start writes an admin token to <data dir>/token,
// which the tests read as a script on the server's machine would.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { createTuneClient, normalizeServer, TuneError, unwrap, type TuneClient } from "../src/index.js";

const repo = resolve(fileURLToPath(import.meta.url), "../../../../..");
let serve: ChildProcess | undefined;
let dir = "";
let server = "";
let adminToken = "";

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const addr = s.address();
      s.close(() => (typeof addr === "object" && addr ? ok(addr.port) : fail(new Error("no port"))));
    });
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tune-ts-"));
  let bin = process.env.TUNE_BINARY ?? "";
  if (!bin) {
    bin = join(dir, "tune");
    execFileSync("go", ["build", "-o", bin, "./cmd/tune"], { cwd: repo, stdio: "inherit" });
  }
  const port = await freePort();
  server = `http://127.0.0.1:${port}`;
  serve = spawn(bin, ["serve", "--addr", `127.0.0.1:${port}`, "--data-dir", dir], { stdio: "inherit" });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(server + "/readyz")).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`tune serve not ready at ${server}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const tokenFile = join(dir, "token");
  if (!existsSync(tokenFile)) throw new Error(`tune serve wrote no admin token to ${tokenFile}`);
  adminToken = readFileSync(tokenFile, "utf8").trim();
});

after(() => {
  serve?.kill();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("ask, report, tell and best, end to end", async () => {
  const tune: TuneClient = createTuneClient({ server, token: adminToken });
  const study = unwrap(
    await tune.POST("/studies", {
      body: {
        name: "ts-quadratic",
        objective: { metric: "loss", direction: "minimize" },
        search_space: { x: { type: "float", low: -5, high: 5 } },
        pruner: { type: "median", startup_trials: 1, warmup_steps: 0 },
      },
    }),
  );
  assert.equal(study.state, "running");

  const values: number[] = [];
  for (let i = 0; i < 4; i++) {
    const trial = unwrap(await tune.POST("/studies/{study}/ask", { params: { path: { study: study.name } } }));
    const x = trial.params["x"];
    assert.equal(typeof x, "number");
    const loss = ((x as number) - 2) ** 2;
    const path = { params: { path: { trial: trial.id } } };
    const decision = unwrap(await tune.POST("/trials/{trial}/report", { ...path, body: { step: 0, value: loss, lease: trial.lease } }));
    assert.equal(typeof decision.prune, "boolean");
    if (decision.prune) {
      unwrap(await tune.POST("/trials/{trial}/tell", { ...path, body: { state: "pruned", lease: trial.lease } }));
      continue;
    }
    const told = unwrap(await tune.POST("/trials/{trial}/tell", { ...path, body: { state: "complete", value: loss, lease: trial.lease } }));
    assert.equal(told.state, "complete");
    values.push(loss);
  }
  const best = unwrap(await tune.GET("/studies/{study}/best", { params: { path: { study: study.name } } }));
  assert.equal(best.value, Math.min(...values));
  const page = unwrap(await tune.GET("/studies/{study}/trials", { params: { path: { study: study.name }, query: { limit: 2 } } }));
  assert.equal(page.items.length, 2);
  assert.ok(page.next_cursor);
});

test("problems become TuneError with status, title and detail", async () => {
  const tune = createTuneClient({ server, token: adminToken });
  await assert.rejects(
    async () => unwrap(await tune.GET("/studies/{study}", { params: { path: { study: "no-such-study" } } })),
    (e: unknown) => e instanceof TuneError && e.status === 404 && e.detail !== "",
  );
  const bad = await tune.POST("/studies", {
    body: { name: "ts-bad", objective: { metric: "loss" }, search_space: { x: { type: "float", low: 5, high: 1 } } },
  });
  assert.throws(() => unwrap(bad), (e: unknown) => e instanceof TuneError && e.status >= 400 && e.status < 500);
});

test("no token, or a wrong one, is a 401 with the server's detail that never shows the token", async () => {
  delete process.env.TUNE_TOKEN;
  for (const token of [undefined, "tune_" + "x".repeat(40)]) {
    const tune = createTuneClient({ server, token });
    await assert.rejects(
      async () => unwrap(await tune.GET("/studies")),
      (e: unknown) =>
        e instanceof TuneError && e.status === 401 && e.detail !== "" && !(token && String(e).includes(token)),
    );
  }
});

test("a read token reads but may not write: 403", async () => {
  const admin = createTuneClient({ server, token: adminToken });
  const made = unwrap(await admin.POST("/tokens", { body: { name: "ts-dashboard", scopes: ["read"] } }));
  assert.deepEqual(made.token.scopes, ["read"]);
  const reader = createTuneClient({ server, token: made.secret });
  assert.ok(Array.isArray(unwrap(await reader.GET("/studies")).items));
  const refused = await reader.POST("/studies", {
    body: { name: "ts-by-reader", objective: { metric: "loss" }, search_space: { x: { type: "float", low: 0, high: 1 } } },
  });
  assert.throws(
    () => unwrap(refused),
    (e: unknown) => e instanceof TuneError && e.status === 403 && e.detail !== "" && !String(e).includes(made.secret),
  );
});

test("server URLs are read as the CLI reads them", () => {
  assert.equal(normalizeServer("tune.internal:8080"), "http://tune.internal:8080");
  assert.equal(normalizeServer("http://host:8080/api/v1/"), "http://host:8080");
  assert.throws(() => normalizeServer("ftp://host"));
});

test("a token is sent as a bearer token, from the options or $TUNE_TOKEN", async () => {
  const seen: (string | null)[] = [];
  const fake: typeof fetch = async (input) => {
    seen.push((input as Request).headers.get("Authorization"));
    return new Response(JSON.stringify({ items: [] }), { headers: { "Content-Type": "application/json" } });
  };
  unwrap(await createTuneClient({ server, token: "opt-token", fetch: fake }).GET("/studies"));
  process.env.TUNE_TOKEN = "env-token";
  try {
    unwrap(await createTuneClient({ server, fetch: fake }).GET("/studies"));
  } finally {
    delete process.env.TUNE_TOKEN;
  }
  unwrap(await createTuneClient({ server, fetch: fake }).GET("/studies"));
  assert.deepEqual(seen, ["Bearer opt-token", "Bearer env-token", null]);
});
