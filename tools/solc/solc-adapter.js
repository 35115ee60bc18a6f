#!/usr/bin/env node
// A native-`solc` command line in front of the npm `solc` package (the official emscripten build).
//
// py-solc-x, ape-solidity and slither call a `solc` executable; none can be downloaded here, so this
// adapter answers the two calls they make:
//   solc --version                                  -> "solc, the solidity compiler ...\nVersion: X+commit.H..."
//   solc --standard-json [--base-path P] [--include-path P]... [--allow-paths A,B] [file]
//                                                   -> standard-JSON output on stdout, nothing else
// Imports that the input does not carry as `content` are read from disk: relative to the base path,
// then each include path, then `node_modules` (after the compiler has applied the input's
// remappings). Anything outside those roots is refused, as native solc refuses it.
"use strict";
const fs = require("fs");
const path = require("path");

function parseArgs(argv) {
  const opts = { includePaths: [], allowPaths: [], files: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const [flag, inline] = arg.startsWith("--") && arg.includes("=") ? arg.split(/=(.*)/s) : [arg, undefined];
    const value = () => (inline !== undefined ? inline : argv[++i]);
    switch (flag) {
      case "--version": opts.version = true; break;
      case "--standard-json": opts.standardJson = true; break;
      case "--base-path": opts.basePath = value(); break;
      case "--include-path": opts.includePaths.push(value()); break;
      case "--allow-paths": opts.allowPaths.push(...value().split(",").filter(Boolean)); break;
      case "--pretty-json": case "--no-color": case "--color": break;
      default:
        if (flag.startsWith("-")) {
          process.stderr.write(`solc-adapter: unsupported option ${flag} (only --version and --standard-json are served)\n`);
          process.exit(2);
        }
        opts.files.push(arg);
    }
  }
  return opts;
}

// solcjs prints an SMT-solver notice on stdout when it loads; keep stdout for the JSON answer only.
function loadSolc() {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = () => true;
  try {
    return require("solc");
  } finally {
    process.stdout.write = write;
  }
}

function versionText(solc) {
  return `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`;
}

function importReader(opts) {
  const cwd = process.cwd();
  // The project this adapter belongs to: ape compiles in an isolated copy of the project whose base
  // path holds no node_modules, so the project's own install is searched too.
  const project = path.resolve(__dirname, "..", "..");
  const bases = [opts.basePath || cwd, ...opts.includePaths, cwd, project];
  const roots = [...new Set([...bases, ...bases.map((b) => path.join(b, "node_modules"))].map((p) => path.resolve(cwd, p)))];
  return (importPath) => {
    const candidates = path.isAbsolute(importPath) ? [importPath] : roots.map((root) => path.join(root, importPath));
    for (const file of candidates) {
      if (fs.existsSync(file) && fs.statSync(file).isFile()) {
        return { contents: fs.readFileSync(file, "utf8") };
      }
    }
    return { error: `File not found: ${importPath} (searched ${roots.join(", ")})` };
  };
}

function readStdin() {
  return fs.readFileSync(0, "utf8");
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const solc = loadSolc();
  if (opts.version) {
    process.stdout.write(versionText(solc));
    return 0;
  }
  if (!opts.standardJson) {
    process.stderr.write("solc-adapter: only --version and --standard-json are served; pass the input as standard JSON\n");
    return 2;
  }
  const input = opts.files.length ? fs.readFileSync(opts.files[0], "utf8") : readStdin();
  const output = solc.compile(input, { import: importReader(opts) });
  process.stdout.write(output.endsWith("\n") ? output : output + "\n");
  // Native solc exits 0 in --standard-json mode even when the sources have errors: the errors are
  // in the JSON, where ape and slither read them.
  return 0;
}

process.exitCode = main();
