// Reproducible build of a Spore module from one JavaScript ES module, run by
// `spore module build` with node from the directory holding the pinned
// @bytecodealliance/componentize-js in node_modules/.
//
// Usage: node componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm
// Environment: SOURCE_DATE_EPOCH (the clock the build sees; 0), SPORE_DETSHIM (the
// deterministic-host shim, an LD_PRELOAD library), SPORE_JS_SCRATCH (a fixed scratch
// folder; the caller holds a lock so that one build at a time uses it).
//
// componentize-js output varies with three things, each pinned here:
// 1. the random name of its work folder, which SpiderMonkey keeps in its heap snapshot:
//    Math.random is fixed, the work folder is under the fixed scratch folder, the source
//    is passed as a string (so its path is <work>/sources/module.js) and the WIT package
//    is copied into the scratch folder;
// 2. the wall clock the splicer bakes into the stubbed WASI clock functions: Date.now is
//    SOURCE_DATE_EPOCH (so Date.now() in the module returns that constant);
// 3. the random bytes and clock readings wizer's WASI hands SpiderMonkey while it
//    pre-initialises (hash seeds, RNG state, timestamps): wizer runs under the shim.
import { chmod, cp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";

const [src, witPath, worldName, out] = process.argv.slice(2);
if (!out) {
  console.error("usage: node componentize.mjs SOURCE.js WIT_DIR WORLD OUT.wasm");
  process.exit(2);
}
const outPath = resolve(out);
const jsSource = await readFile(resolve(src), "utf8");
const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? "0");
const shim = process.env.SPORE_DETSHIM;
const scratch = process.env.SPORE_JS_SCRATCH;
if (!shim || !scratch) {
  console.error("SPORE_DETSHIM and SPORE_JS_SCRATCH must be set (spore module build does)");
  process.exit(2);
}

await rm(scratch, { recursive: true, force: true });
await mkdir(join(scratch, "cwd"), { recursive: true });
const wit = join(scratch, "wit");
await cp(resolve(witPath), wit, { recursive: true });
process.env.TMPDIR = scratch;
process.chdir(join(scratch, "cwd")); // not a prefix of the work folder

Math.random = () => 0.5;
Date.now = () => epoch * 1000;

const realWizer = (await import("@bytecodealliance/wizer")).default;
const wizer = join(scratch, "wizer.sh");
await writeFile(
  wizer,
  `#!/bin/sh\nDETSHIM_SCRUB=1 LD_PRELOAD='${shim}' SOURCE_DATE_EPOCH='${epoch}' exec '${realWizer}' "$@"\n`,
);
await chmod(wizer, 0o755);

const { componentize } = await import("@bytecodealliance/componentize-js");
const { component } = await componentize(jsSource, {
  sourceName: "module.js",
  witPath: wit,
  worldName,
  // No WASI at all: a module may import only spore:policy/snapshot and spore:policy/log.
  disableFeatures: ["stdio", "random", "clocks", "http", "fetch-event"],
  // The AOT path (weval) downloads a binary at run time: not offline, not pinned.
  enableAot: false,
  wizerBin: wizer,
});
await writeFile(outPath, component);
await rm(scratch, { recursive: true, force: true });
