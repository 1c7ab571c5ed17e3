// `lokt mcp` driven by the official MCP TypeScript SDK over stdio, in file mode
// or through loktd (--backend): the initialize handshake and the 2026-07-28
// requests, tools/list, every tool with good and bad input (structured output
// checked against the declared outputSchema by the SDK's own validation and by
// Ajv's 2020-12 validator), the path reservation tools, malformed JSON-RPC,
// and holds and reservations that end with the server. The 1.x SDK has no 2026-07-28 client, so that era is spoken through
// raw lines and its results checked with the SDK's result schemas.
//
// Usage: node sdk_client.mjs --lokt PATH --loktd PATH --backend files|daemon
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CallToolResultSchema, ListToolsResultSchema, LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import Ajv2020Module from 'ajv/dist/2020.js';

import { Checks, MODERN, RawServer, auditEvents, envFor, makeRoot, modernMeta, parseArgs, stopRoot, until } from './support.mjs';

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
const args = parseArgs(process.argv);
const root = await makeRoot(args);
const checks = new Checks();
const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
const TOOL_NAMES = ['acquire', 'release', 'renew', 'status', 'why', 'reserve', 'unreserve', 'check_paths'];
const LEGACY = ['2025-11-25', '2025-06-18', '2025-03-26'];

async function connect(owner) {
  const client = new Client({ name: 'lokt-tests', version: '1.0.0' }, { capabilities: {} });
  const transport = new StdioClientTransport({ command: args.lokt, args: ['mcp'], env: envFor(root, owner), stderr: 'pipe' });
  await client.connect(transport);
  return { client, transport, pid: transport.pid };
}

const validators = new Map();
function validatorFor(tool) {
  if (!validators.has(tool.name)) validators.set(tool.name, ajv.compile(tool.outputSchema));
  return validators.get(tool.name);
}

let toolList = [];
async function call(session, name, args, options) {
  const result = await session.client.callTool({ name, arguments: args }, CallToolResultSchema, options);
  if (!result.isError) {
    const tool = toolList.find((t) => t.name === name);
    const validate = validatorFor(tool);
    assert.ok(validate(result.structuredContent), `${name}: ${ajv.errorsText(validate.errors)}`);
    assert.equal(result.content[0].type, 'text');
    assert.deepEqual(JSON.parse(result.content[0].text), result.structuredContent, 'the text mirrors the structured content');
  } else {
    assert.equal(result.structuredContent, undefined);
    assert.equal(result.content[0].type, 'text');
    assert.ok(result.content[0].text.length > 0);
  }
  return result;
}

const a = await connect('agent-a');
const b = await connect('agent-b');

await checks.run('initialize: the SDK connects and learns who we are', async () => {
  assert.equal(a.client.getServerVersion().name, 'lokt');
  assert.ok(a.client.getServerCapabilities().tools);
  assert.match(a.client.getInstructions(), /acquire/);
  assert.equal(LATEST_PROTOCOL_VERSION, '2025-11-25');
});

await checks.run('initialize: each legacy version is answered with itself, others with the newest', async () => {
  const raw = new RawServer(args.lokt, envFor(root, 'raw'));
  for (const version of [...LEGACY, '2024-11-05', '2099-01-01']) {
    const answer = await raw.request({ jsonrpc: '2.0', id: version, method: 'initialize',
      params: { protocolVersion: version, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
    assert.equal(answer.result.protocolVersion, LEGACY.includes(version) ? version : '2025-11-25');
    assert.equal(answer.result.serverInfo.name, 'lokt');
    assert.equal(answer.result.resultType, undefined, 'no 2026 fields in a legacy answer');
  }
  const ping = await raw.request({ jsonrpc: '2.0', id: 'p', method: 'ping' });
  assert.deepEqual(ping.result, {});
  await raw.close();
});

await checks.run('2025-03-26: no output schemas or structured content, which that version lacks', async () => {
  const raw = new RawServer(args.lokt, envFor(root, 'raw'));
  await raw.request({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-03-26', capabilities: {}, clientInfo: { name: 't', version: '1' } } });
  raw.writeLine(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  const list = await raw.request({ jsonrpc: '2.0', id: 2, method: 'tools/list' });
  assert.ok(list.result.tools.every((t) => t.outputSchema === undefined && t.inputSchema));
  const status = await raw.request({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'status', arguments: {} } });
  assert.equal(status.result.structuredContent, undefined);
  assert.ok(JSON.parse(status.result.content[0].text).locks);
  await raw.close();
});

await checks.run('tools/list: eight tools, each with valid 2020-12 input and output schemas', async () => {
  toolList = (await a.client.listTools()).tools;
  assert.deepEqual(toolList.map((t) => t.name), TOOL_NAMES);
  for (const tool of toolList) {
    assert.equal(tool.inputSchema.type, 'object');
    assert.equal(tool.outputSchema.type, 'object');
    ajv.compile(tool.inputSchema);
    validatorFor(tool);
    assert.ok(tool.description.length > 20 && tool.title);
  }
});

await checks.run('acquire, refresh, status, why, renew: good input', async () => {
  const got = await call(a, 'acquire', { name: 'build', ttl: '1m' });
  assert.equal(got.isError, false);
  assert.equal(got.structuredContent.acquired, true);
  assert.equal(got.structuredContent.outcome, 'acquired');
  assert.equal(got.structuredContent.backend, args.backend);
  const again = await call(a, 'acquire', { name: 'build', ttl: 90 });
  assert.equal(again.structuredContent.outcome, 'refreshed');
  assert.equal(again.structuredContent.lock_id, got.structuredContent.lock_id);

  const all = await call(a, 'status', {});
  assert.deepEqual(all.structuredContent.session_holds, ['build']);
  const lock = all.structuredContent.locks.find((l) => l.name === 'build');
  assert.equal(lock.mine, true);
  assert.equal(lock.pid, a.pid, 'the holder is the MCP server process');
  assert.equal(lock.bound_to, 'guard');
  const one = await call(b, 'status', { name: 'build' });
  assert.equal(one.structuredContent.locks[0].mine, false);
  assert.equal(one.structuredContent.queue_known, args.backend === 'daemon');

  const why = await call(b, 'why', { name: 'build' });
  assert.equal(why.structuredContent.acquirable, false);
  assert.equal(why.structuredContent.holder.pid, a.pid);
  const mine = await call(a, 'why', { name: 'build' });
  assert.equal(mine.structuredContent.mine, true);

  const renewed = await call(a, 'renew', { name: 'build', ttl: '2m' });
  assert.equal(renewed.structuredContent.ttl_sec, 120);
  const kept = await call(a, 'renew', { name: 'build' });
  assert.equal(kept.structuredContent.ttl_sec, 120);
});

await checks.run('acquire: a held lock is refused with its holder, and a bounded wait times out', async () => {
  const refused = await call(b, 'acquire', { name: 'build' });
  assert.equal(refused.isError, false);
  assert.equal(refused.structuredContent.acquired, false);
  assert.equal(refused.structuredContent.outcome, 'held');
  assert.equal(refused.structuredContent.holder.pid, a.pid);
  const notes = [];
  const timedOut = await call(b, 'acquire', { name: 'build', wait: '300ms' }, { onprogress: (p) => notes.push(p) });
  assert.equal(timedOut.structuredContent.outcome, 'timeout');
  assert.ok(timedOut.structuredContent.waited_ms >= 250, `waited ${timedOut.structuredContent.waited_ms} ms`);
  if (args.backend === 'daemon') {
    assert.equal(timedOut.structuredContent.queue_position, 1);
    assert.ok(notes.length >= 1 && /queue position 1/.test(notes[0].message), JSON.stringify(notes));
  }
});

await checks.run('acquire with wait: granted when the holder releases', async () => {
  const denials = () => auditEvents(root).filter((e) => e.event === 'deny' && e.name === 'build' && e.pid === b.pid).length;
  const before = denials();
  const waiting = call(b, 'acquire', { name: 'build', wait: '20s', ttl: '1m' });
  // B waits once its new deny line is in the audit log.
  await until(() => denials() > before, 'b to wait');
  const released = await call(a, 'release', { name: 'build' });
  assert.equal(released.structuredContent.released, true);
  const got = await waiting;
  assert.equal(got.structuredContent.acquired, true);
  assert.ok(got.structuredContent.waited_ms > 0);
  const done = await call(b, 'release', { name: 'build' });
  assert.equal(done.structuredContent.lock_id, got.structuredContent.lock_id);
});

await checks.run('mode shared: two sessions hold a name together, an exclusive request meets both, no upgrade', async () => {
  const first = await call(a, 'acquire', { name: 'dataset', mode: 'shared', ttl: '1m' });
  const second = await call(b, 'acquire', { name: 'dataset', mode: 'shared', ttl: '1m' });
  assert.equal(first.structuredContent.acquired, true);
  assert.equal(second.structuredContent.acquired, true);
  assert.equal(second.structuredContent.mode, 'shared');
  assert.ok(second.structuredContent.fence > first.structuredContent.fence, 'each member has its own token');
  const upgrade = await call(a, 'acquire', { name: 'dataset', mode: 'exclusive' });
  assert.equal(upgrade.isError, true, 'a shared hold is not upgraded');
  assert.match(upgrade.content[0].text, /does not upgrade/);
  const other = spawnSync(args.lokt, ['lock', 'dataset', '--ttl', '1m'], { env: envFor(root, 'writer'), encoding: 'utf8' });
  assert.equal(other.status, 2);
  assert.match(other.stderr, /shared mode by 2 holders/);
  await call(b, 'release', { name: 'dataset' });
  // B asks for it exclusively and waits behind A: status and why name B's mode.
  const waiting = call(b, 'acquire', { name: 'dataset', wait: '20s', ttl: '1m' });
  let seen;
  await until(async () => {
    seen = await call(a, 'status', { name: 'dataset' });
    return seen.structuredContent.waiters.length === 1;
  }, 'b to wait');
  assert.equal(seen.structuredContent.queue_known, args.backend === 'daemon', 'on the files: seen in waits/, no queue');
  assert.equal(seen.structuredContent.waiters[0].owner, 'agent-b');
  assert.equal(seen.structuredContent.waiters[0].mode, 'exclusive');
  const why = await call(a, 'why', { name: 'dataset' });
  assert.equal(why.structuredContent.waiters[0].mode, 'exclusive');
  assert.ok(why.structuredContent.reasons.some((r) => /asks exclusive/.test(r)), JSON.stringify(why.structuredContent.reasons));
  await call(a, 'release', { name: 'dataset' });
  const got = await waiting;
  assert.equal(got.structuredContent.acquired, true);
  await call(b, 'release', { name: 'dataset' });
  const events = auditEvents(root).filter((e) => e.name === 'dataset' && e.event === 'acquire');
  assert.deepEqual(events.map((e) => e.extra.mode), ['shared', 'shared', undefined]);
  assert.equal(spawnSync(args.lokt, ['exists', 'dataset'], { env: envFor(root, 'checker') }).status, 3);
});

await checks.run('slots: two sessions each get their own slot of a pool, with its fence; a third is refused, N must agree', async () => {
  const first = await call(a, 'acquire', { name: 'gpu', slots: 2, ttl: '1m' });
  assert.equal(first.structuredContent.acquired, true);
  assert.equal(first.structuredContent.slot, 0);
  assert.equal(first.structuredContent.slots, 2);
  assert.equal(first.structuredContent.lock_name, 'gpu.slot-0');
  assert.ok(first.structuredContent.fence >= 1);
  const other = await call(b, 'acquire', { name: 'gpu', slots: 3 });
  assert.equal(other.isError, true, 'a pool of 2 is not taken as a pool of 3');
  assert.match(other.content[0].text, /pool "gpu" has 2 slots, not 3/);
  const second = await call(b, 'acquire', { name: 'gpu', slots: 2, ttl: '1m' });
  assert.equal(second.structuredContent.slot, 1);
  assert.equal(second.structuredContent.lock_name, 'gpu.slot-1');
  assert.ok(second.structuredContent.fence > 0);
  const again = await call(a, 'acquire', { name: 'gpu', slots: 2, ttl: '2m' });
  assert.equal(again.structuredContent.outcome, 'refreshed');
  assert.equal(again.structuredContent.slot, 0, 'the same slot for the whole hold');
  assert.equal(again.structuredContent.lock_id, first.structuredContent.lock_id);
  const resized = await call(a, 'acquire', { name: 'gpu', slots: 3 });
  assert.equal(resized.isError, true, 'held as a slot of 2, not asked again as 3');
  const third = spawnSync(args.lokt, ['lock', 'gpu', '--slots', '2', '--ttl', '1m'], { env: envFor(root, 'third'), encoding: 'utf8' });
  assert.equal(third.status, 2, third.stderr);
  assert.match(third.stderr, /all 2 slots of pool "gpu" are held/);
  const full = await call(b, 'status', {});
  assert.ok(full.structuredContent.session_holds.includes('gpu'));
  assert.deepEqual(full.structuredContent.locks.filter((l) => l.name.startsWith('gpu.slot-')).map((l) => [l.name, l.mine]),
    [['gpu.slot-0', false], ['gpu.slot-1', true]]);
  const acquires = auditEvents(root).filter((e) => e.event === 'acquire' && e.extra?.pool === 'gpu');
  assert.deepEqual(acquires.map((e) => [e.name, e.extra.slot]), [['gpu.slot-0', 0], ['gpu.slot-1', 1]]);
  const byPool = await call(a, 'release', { name: 'gpu' });
  assert.equal(byPool.structuredContent.lock_id, first.structuredContent.lock_id);
  const bySlot = await call(b, 'release', { name: 'gpu.slot-1' });
  assert.equal(bySlot.structuredContent.lock_id, second.structuredContent.lock_id);
  assert.equal(spawnSync(args.lokt, ['exists', 'gpu.slot-0'], { env: envFor(root, 'checker') }).status, 3);
  assert.equal(spawnSync(args.lokt, ['exists', 'gpu.slot-1'], { env: envFor(root, 'checker') }).status, 3);
});

await checks.run('bad input: a tool error (isError), never a protocol error or a crash', async () => {
  const bad = [
    ['acquire', {}], ['acquire', { name: 5 }], ['acquire', { name: 'bad name!' }], ['acquire', { name: 'x', ttl: 'soon' }],
    ['acquire', { name: 'x', ttl: 0 }], ['acquire', { name: 'x', ttl: -5 }], ['acquire', { name: 'x', wait: '1h' }],
    ['acquire', { name: 'x', mode: 'sometimes' }], ['acquire', { name: 'x', colour: 'red' }], ['acquire', { name: 'x', ttl: {} }],
    ['acquire', { name: 'x', slots: 0 }], ['acquire', { name: 'x', slots: 1.5 }], ['acquire', { name: 'x', slots: '2' }],
    ['acquire', { name: 'x', slots: 2000 }], ['acquire', { name: 'x', slots: 2, mode: 'shared' }],
    ['acquire', { name: 'x'.repeat(195), slots: 2 }],
    ['release', {}], ['release', { name: 'never-held' }], ['release', { name: '../etc' }],
    ['renew', {}], ['renew', { name: 'never-held' }], ['renew', { name: 'never-held', ttl: 'x' }],
    ['status', { name: 7 }], ['status', { extra: 1 }],
    ['why', {}], ['why', { name: '' }], ['why', { name: 'x'.repeat(300) }],
  ];
  for (const [name, input] of bad) {
    const result = await call(a, name, input);
    assert.equal(result.isError, true, `${name} ${JSON.stringify(input)} was accepted`);
  }
  assert.equal((await a.client.listTools()).tools.length, TOOL_NAMES.length, 'still serving');
  assert.equal(auditEvents(root).some((e) => e.name === 'x'), false, 'nothing was taken');
});

await checks.run('malformed JSON-RPC gets the JSON-RPC error it calls for', async () => {
  const raw = new RawServer(args.lokt, envFor(root, 'raw'));
  const expect = async (line, code, id) => {
    const answer = await raw.request(line);
    assert.equal(answer.error?.code, code, `${line} -> ${JSON.stringify(answer)}`);
    assert.equal(answer.id, id);
  };
  await expect('this is not json', -32700, null);
  await expect('{"jsonrpc":"2.0","id":1,"method":"ping"', -32700, null);
  await expect('[{"jsonrpc":"2.0","id":2,"method":"ping"}]', -32600, null);
  await expect('"just a string"', -32600, null);
  await expect('{"jsonrpc":"2.0","id":3}', -32600, 3);
  await expect('{"jsonrpc":"1.0","id":4,"method":"ping"}', -32600, 4);
  await expect('{"id":5,"method":"ping"}', -32600, 5);
  await expect('{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}', -32600, null);
  await expect('{"jsonrpc":"2.0","id":6,"method":42}', -32600, 6);
  await expect('{"jsonrpc":"2.0","id":7,"method":"no/such/method"}', -32601, 7);
  await expect('{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"nope"}}', -32602, 8);
  await expect('{"jsonrpc":"2.0","id":9,"method":"tools/call","params":"acquire"}', -32602, 9);
  await expect('{"jsonrpc":"2.0","id":10,"method":"tools/call","params":{}}', -32602, 10);
  await expect('{"jsonrpc":"2.0","id":11,"method":"initialize","params":{}}', -32602, 11);
  await expect('{"jsonrpc":"2.0","id":12,"method":"resources/list"}', -32601, 12);
  // Notifications, even unknown or malformed ones, are never answered.
  raw.writeLine('{"jsonrpc":"2.0","method":"notifications/whatever"}');
  raw.writeLine('{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}');
  const ping = await raw.request({ jsonrpc: '2.0', id: 'after', method: 'ping' });
  assert.deepEqual(ping.result, {});
  const args2 = await raw.request({ jsonrpc: '2.0', id: 13, method: 'tools/call', params: { name: 'acquire', arguments: [1] } });
  assert.equal(args2.result.isError, true);
  // Nesting that would exhaust a recursive parser's stack is refused, not fatal.
  await expect(`{"jsonrpc":"2.0","id":15,"method":"ping","params":{"a":${'['.repeat(1000000)}${']'.repeat(1000000)}}}`, -32700, null);
  raw.writeLine('x'.repeat(5 * 1024 * 1024));
  const big = await raw.next((m) => m.error && m.error.code === -32700);
  assert.equal(big.id, null);
  const stillThere = await raw.request({ jsonrpc: '2.0', id: 14, method: 'ping' });
  assert.deepEqual(stillThere.result, {});
  assert.equal(raw.messages.length, 0, 'no extra messages');
  const { code } = await raw.close();
  assert.equal(code, 0);
});

await checks.run('2026-07-28: server/discover and stateless requests with the version in _meta', async () => {
  const raw = new RawServer(args.lokt, envFor(root, 'modern'));
  const discover = await raw.request({ jsonrpc: '2.0', id: 'd', method: 'server/discover', params: { _meta: modernMeta() } });
  const result = discover.result;
  assert.equal(result.resultType, 'complete');
  assert.deepEqual(result.supportedVersions, [MODERN, ...LEGACY]);
  assert.ok(result.capabilities.tools);
  assert.equal(result._meta['io.modelcontextprotocol/serverInfo'].name, 'lokt');
  assert.ok(result.ttlMs >= 0 && ['public', 'private'].includes(result.cacheScope));
  assert.match(result.instructions, /acquire/);

  const list = await raw.request({ jsonrpc: '2.0', id: 'l', method: 'tools/list', params: { _meta: modernMeta() } });
  ListToolsResultSchema.parse(list.result);
  assert.equal(list.result.resultType, 'complete');
  assert.ok(list.result.ttlMs >= 0 && list.result.cacheScope);
  assert.deepEqual(list.result.tools.map((t) => t.name), TOOL_NAMES);

  const acquire = list.result.tools.find((t) => t.name === 'acquire');
  const got = await raw.request({ jsonrpc: '2.0', id: 'c', method: 'tools/call',
    params: { _meta: modernMeta(), name: 'acquire', arguments: { name: 'modern-lock', ttl: '1m' } } });
  CallToolResultSchema.parse(got.result);
  assert.equal(got.result.resultType, 'complete');
  const validate = ajv.compile(acquire.outputSchema);
  assert.ok(validate(got.result.structuredContent), ajv.errorsText(validate.errors));
  assert.equal(got.result.structuredContent.acquired, true);
  const bad = await raw.request({ jsonrpc: '2.0', id: 'b', method: 'tools/call',
    params: { _meta: modernMeta(), name: 'release', arguments: { name: 'not-mine' } } });
  assert.equal(bad.result.isError, true);
  const rel = await raw.request({ jsonrpc: '2.0', id: 'r', method: 'tools/call',
    params: { _meta: modernMeta(), name: 'release', arguments: { name: 'modern-lock' } } });
  assert.equal(rel.result.structuredContent.released, true);

  const unsupported = await raw.request({ jsonrpc: '2.0', id: 'u', method: 'tools/list',
    params: { _meta: modernMeta({ 'io.modelcontextprotocol/protocolVersion': '2099-01-01' }) } });
  assert.equal(unsupported.error.code, -32022);
  assert.deepEqual(unsupported.error.data, { supported: [MODERN, ...LEGACY], requested: '2099-01-01' });
  const noCaps = { ...modernMeta() };
  delete noCaps['io.modelcontextprotocol/clientCapabilities'];
  const missing = await raw.request({ jsonrpc: '2.0', id: 'm', method: 'tools/list', params: { _meta: noCaps } });
  assert.equal(missing.error.code, -32602);
  const bare = await raw.request({ jsonrpc: '2.0', id: 'n', method: 'server/discover', params: {} });
  assert.equal(bare.error.code, -32602);
  const ping = await raw.request({ jsonrpc: '2.0', id: 'p', method: 'ping', params: { _meta: modernMeta() } });
  assert.equal(ping.error.code, -32601, 'ping is gone in 2026-07-28');
  await raw.close();
});

await checks.run('a hold not renewed within its TTL is released by the server', async () => {
  const got = await call(a, 'acquire', { name: 'short-lease', ttl: 1 });
  assert.equal(got.structuredContent.acquired, true);
  // Through the daemon nothing else would end it: loktd renews a session's holds while it is connected.
  await until(() => auditEvents(root).some((e) => e.name === 'short-lease' && e.event === 'release' && e.pid === a.pid),
    'the lapsed hold to be released', 5000);
  const status = await call(a, 'status', {});
  assert.equal(status.structuredContent.session_holds.includes('short-lease'), false);
  const renew = await call(a, 'renew', { name: 'short-lease' });
  assert.equal(renew.isError, true);
});

await checks.run('reserve, check_paths, unreserve: good input', async () => {
  const got = await call(a, 'reserve', { globs: ['src/auth/**', 'docs/auth.md'], ttl: '10m' });
  assert.equal(got.isError, false);
  assert.equal(got.structuredContent.reserved, true);
  assert.equal(got.structuredContent.outcome, 'reserved');
  assert.deepEqual(got.structuredContent.reservations.map((r) => r.glob), ['src/auth/**', 'docs/auth.md']);
  for (const r of got.structuredContent.reservations) {
    assert.equal(r.pid, a.pid, 'the holder is the MCP server process');
    assert.equal(r.owner, 'agent-a', 'the owner is LOKT_OWNER, as for the commands');
    assert.equal(r.bound_to, 'process');
    assert.equal(r.ttl_sec, 600);
    assert.equal(r.mine, true);
  }
  // The CLI sees it under the same owner, and another owner is refused by it.
  const cliCheck = spawnSync(args.lokt, ['reserve', '--check', 'src/auth/login.c', '--json'], { env: envFor(root, 'agent-b'), cwd: root.dir });
  assert.equal(cliCheck.status, 2, cliCheck.stderr.toString());
  assert.equal(JSON.parse(cliCheck.stdout).paths[0].blockers[0].owner, 'agent-a');
  const again = await call(a, 'reserve', { globs: 'src/auth', ttl: 1200 });
  assert.equal(again.structuredContent.reservations[0].id, got.structuredContent.reservations[0].id, 'reserving again renews in place');
  assert.equal(again.structuredContent.reservations[0].ttl_sec, 1200);

  const mine = await call(a, 'check_paths', { paths: ['src/auth/login.c', 'README.md'] });
  assert.equal(mine.structuredContent.allowed, true, 'an owner is never refused by its own reservations');
  assert.equal(mine.structuredContent.owner, 'agent-a');
  const theirs = await call(b, 'check_paths', { paths: ['src/auth/login.c', 'README.md', '/nowhere/else.c'] });
  assert.equal(theirs.structuredContent.allowed, false);
  const [login, readme, outside] = theirs.structuredContent.paths;
  assert.equal(login.path, 'src/auth/login.c');
  assert.equal(login.allowed, false);
  assert.equal(login.blockers[0].owner, 'agent-a');
  assert.equal(login.blockers[0].glob, 'src/auth', 'as last reserved');
  assert.equal(login.blockers[0].mine, false);
  assert.equal(readme.allowed, true);
  assert.equal(outside.path, null);
  assert.equal(outside.allowed, true);
  assert.match(theirs.structuredContent.message, /reserved by agent-a/);

  const refused = await call(b, 'reserve', { globs: ['src/**/*.c'] });
  assert.equal(refused.isError, false, 'a refusal is an answer, not an error');
  assert.equal(refused.structuredContent.reserved, false);
  assert.equal(refused.structuredContent.outcome, 'held');
  assert.equal(refused.structuredContent.reservations.length, 0);
  assert.equal(refused.structuredContent.conflicts[0].glob, 'src/**/*.c');
  assert.equal(refused.structuredContent.conflicts[0].holder.pid, a.pid);
  const notes = [];
  const timedOut = await call(b, 'reserve', { globs: ['src/auth/x.c'], wait: '300ms' }, { onprogress: (p) => notes.push(p) });
  assert.equal(timedOut.structuredContent.outcome, 'timeout');
  assert.ok(timedOut.structuredContent.waited_ms >= 250, `waited ${timedOut.structuredContent.waited_ms} ms`);
  assert.ok(notes.length >= 1 && /overlaps/.test(notes[0].message), JSON.stringify(notes));

  const sharedA = await call(a, 'reserve', { globs: ['CHANGELOG.md'], mode: 'shared' });
  const sharedB = await call(b, 'reserve', { globs: ['CHANGELOG.md'], mode: 'shared' });
  assert.equal(sharedA.structuredContent.reserved, true);
  assert.equal(sharedB.structuredContent.reserved, true);
  assert.equal(sharedB.structuredContent.reservations[0].expires_at, null, 'without a TTL it lasts the session');

  // A waiting reserve is granted when the holder unreserves.
  const waitDenials = () => auditEvents(root).filter((e) => e.event === 'reserve-deny' && e.pid === b.pid && e.extra?.waiting).length;
  const before = waitDenials();
  const waiting = call(b, 'reserve', { globs: ['docs/**'], wait: '20s', ttl: '1m' });
  await until(() => waitDenials() > before, 'b to wait');
  const done = await call(a, 'unreserve', { globs: ['docs/auth.md'] });
  assert.deepEqual(done.structuredContent.unreserved.map((r) => r.glob), ['docs/auth.md']);
  assert.deepEqual(done.structuredContent.not_found, []);
  const granted = await waiting;
  assert.equal(granted.structuredContent.reserved, true);
  assert.ok(granted.structuredContent.waited_ms > 0);

  const all = await call(b, 'unreserve', { all: true });
  assert.deepEqual(all.structuredContent.unreserved.map((r) => r.glob).sort(), ['CHANGELOG.md', 'docs/**']);
  const none = await call(b, 'unreserve', { all: true });
  assert.deepEqual(none.structuredContent.unreserved, []);
  const rest = await call(a, 'unreserve', { globs: ['src/auth/**', 'CHANGELOG.md'] });
  assert.equal(rest.structuredContent.unreserved.length, 2);
});

await checks.run('reserve, unreserve, check_paths: bad input is a tool error', async () => {
  const held = await call(a, 'reserve', { globs: ['held/**'] });
  assert.equal(held.structuredContent.reserved, true);
  const bad = [
    ['reserve', {}], ['reserve', { globs: [] }], ['reserve', { globs: [5] }], ['reserve', { globs: 7 }],
    ['reserve', { globs: ['../outside'] }], ['reserve', { globs: ['src/[a-'] }],
    ['reserve', { globs: ['x'], ttl: 'soon' }], ['reserve', { globs: ['x'], ttl: 0 }], ['reserve', { globs: ['x'], wait: '1h' }],
    ['reserve', { globs: ['x'], mode: 'sometimes' }], ['reserve', { globs: ['x'], shared: true }],
    ['reserve', { globs: Array.from({ length: 300 }, (_, i) => `f${i}`) }],
    ['unreserve', {}], ['unreserve', { globs: ['x'], all: true }], ['unreserve', { all: 'yes' }],
    ['unreserve', { globs: ['never-reserved/**'] }], ['unreserve', { globs: ['../x'] }], ['unreserve', { colour: 1 }],
    ['check_paths', {}], ['check_paths', { paths: [] }], ['check_paths', { paths: [''] }], ['check_paths', { paths: [1] }],
    ['check_paths', { paths: ['a'], owner: 'someone' }],
  ];
  for (const [name, input] of bad) {
    const result = await call(b, name, input);
    assert.equal(result.isError, true, `${name} ${JSON.stringify(input)} was accepted`);
  }
  const notMine = await call(b, 'unreserve', { globs: ['held/**'] });
  assert.equal(notMine.isError, true, 'another owner\'s reservation is left alone');
  assert.match(notMine.content[0].text, /agent-a/);
  assert.equal(auditEvents(root).some((e) => e.event === 'reserve' && e.name === 'x'), false, 'nothing was reserved');
  await call(a, 'unreserve', { globs: ['held/**'] });
});

await checks.run('holds end with the server: closing the client releases them', async () => {
  const got = await call(a, 'acquire', { name: 'session-bound', ttl: '10m' });
  assert.equal(got.structuredContent.acquired, true);
  const reserved = await call(a, 'reserve', { globs: ['session/**'], ttl: '10m' });
  assert.equal(reserved.structuredContent.reserved, true);
  await a.client.close();
  // `lokt exists` exits 3 once nobody holds the name.
  await until(() => spawnSync(args.lokt, ['exists', 'session-bound'], { env: envFor(root, 'checker') }).status === 3,
    'the hold to end');
  const events = auditEvents(root).filter((e) => e.name === 'session-bound');
  assert.deepEqual(events.map((e) => e.event), ['acquire', 'release']);
  // Its reservation too, removed by the server itself (not pruned later).
  await until(() => auditEvents(root).some((e) => e.name === 'session/**' && e.event === 'unreserve'), 'the reservation to end');
  const ended = auditEvents(root).filter((e) => e.name === 'session/**');
  assert.deepEqual(ended.map((e) => e.event), ['reserve', 'unreserve']);
  assert.equal(ended[1].extra.pruned, undefined);
  assert.equal(ended[1].pid, a.pid);
});

await b.client.close();
await stopRoot(root);
process.exit(checks.finish());
