// A grant that reaches `lokt mcp` late, through loktd: the daemon grants the
// server's waiting acquire and its answer is held back (strace delays the
// daemon's reply) past the hold's TTL, long enough for a file-mode guard to
// break the lapsed hold and go inside. The server must not tell its agent that
// it holds the lock: it finds the hold lost, records it, and waits again; the
// agent gets the lock after the guard has left. The server's other hold, bound
// to the same connection to loktd, lives on throughout. Then the renew tool on
// a hold whose renewals loktd has fallen behind on (the daemon stopped for most
// of the TTL): loktd is asked to renew it, and the connection, with the
// server's other hold, survives.
//
// Usage: node late_grant.mjs --lokt PATH --loktd PATH --backend daemon
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

import { Checks, RawServer, auditEvents, envFor, makeRoot, parseArgs, stopRoot, until } from './support.mjs';

const args = parseArgs(process.argv);
if (args.backend !== 'daemon') throw new Error('late_grant.mjs is about loktd: --backend daemon');
const root = await makeRoot(args);
const checks = new Checks();

// lokt on the files alone, as an agent that does not use the daemon.
const onFiles = (owner) => ({ ...envFor(root, owner), LOKT_DAEMON: 'off' });
function lokt(argv, env) {
  const run = spawnSync(args.lokt, argv, { env, encoding: 'utf8' });
  assert.equal(run.status, 0, `lokt ${argv.join(' ')}: ${run.stderr}`);
  return run;
}

// strace on loktd holding back its next reply (the call that carries it) by
// `delayUs`; resolves once strace is attached. stop() detaches it.
async function stallNextReply(delayUs) {
  const calls = 'sendmsg,writev,sendto';
  const strace = spawn('strace', ['-f', '-p', String(root.daemon.pid), '-e', `trace=${calls}`,
    '-e', `inject=${calls}:delay_enter=${delayUs}:when=1`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  strace.stderr.on('data', (chunk) => { said += chunk.toString(); });
  const exited = new Promise((resolve) => strace.on('exit', resolve));
  await until(() => /attached/.test(said), 'strace to attach');
  return {
    said: () => said,
    async stop() {
      strace.kill('SIGTERM');
      await exited;
    },
  };
}

async function startServer(owner) {
  const server = new RawServer(args.lokt, envFor(root, owner));
  await server.request({ jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'late-grant-test', version: '1' } } });
  return server;
}
const tool = (id, name, args) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

async function stillMine(server, id, name) {
  const status = await server.request(tool(id, 'status', { name }));
  const locks = status.result?.structuredContent?.locks;
  assert.ok(locks, `status of ${name}: ${JSON.stringify(status)}`);
  return locks.length === 1 && locks[0].mine === true;
}

// A file-mode guard of `late` that stays inside until told: inside(), leave(), exit.
function startBreaker() {
  const inside = path.join(root.dir, 'breaker.inside');
  const go = path.join(root.dir, 'breaker.go');
  const left = path.join(root.dir, 'breaker.left');
  const proc = spawn(args.lokt, ['guard', 'late', '--ttl', '1s', '--wait', '--timeout', '60s', '--', 'sh', '-c',
    'touch "$0"; while [ ! -e "$1" ]; do sleep 0.05; done; touch "$2"', inside, go, left],
  { env: onFiles('agent-breaker'), stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  proc.stderr.on('data', (chunk) => { err += chunk.toString(); });
  const exit = new Promise((resolve) => proc.on('exit', resolve));
  return {
    inside: () => existsSync(inside),
    hasLeft: () => existsSync(left),
    async leave() {
      writeFileSync(go, '');
      const code = await exit;
      assert.equal(code, 0, err);
    },
  };
}

await checks.run('a grant held back past its TTL is found lost and waited for again; the other hold lives on', async () => {
  const server = await startServer('agent-mcp');
  const other = await server.request(tool(2, 'acquire', { name: 'other', ttl: '10m' }));
  assert.equal(other.result.structuredContent.acquired, true, JSON.stringify(other));

  lokt(['lock', 'late', '--ttl', '1m'], onFiles('ops'));
  server.writeLine(JSON.stringify(tool(3, 'acquire', { name: 'late', ttl: '1s', wait: '60s' })));
  await until(() => auditEvents(root).some((e) => e.event === 'deny' && e.name === 'late' && e.pid === server.pid),
    'the acquire to queue in loktd');

  // loktd's next reply is the grant: 2.5 s late, the 1 s TTL long gone by then.
  const stall = await stallNextReply(2500000);
  let breaker;
  try {
    lokt(['unlock', 'late'], onFiles('ops'));
    breaker = startBreaker();
    await until(() => breaker.inside(), 'the breaker to go inside', 20000);
    assert.ok(auditEvents(root).some((e) => e.event === 'stale-break' && e.name === 'late'),
      'the breaker broke the lapsed grant');
    // The answer arrives while the breaker is inside: the server must see the loss, not report a hold.
    await until(() => auditEvents(root).some((e) => e.event === 'lost' && e.name === 'late' && e.pid === server.pid) ||
      server.messages.some((m) => m.id === 3), 'the late answer to be dealt with', 20000);
    assert.ok(!server.messages.some((m) => m.id === 3),
      `the agent was answered while the breaker was inside: ${JSON.stringify(server.messages)}`);
    assert.match(stall.said(), /sendmsg|writev|sendto/, 'strace held the reply back');
  } finally {
    await stall.stop();
  }

  await breaker.leave();
  const got = await server.next((m) => m.id === 3, 20000);
  assert.ok(breaker.hasLeft(), 'answered only after the breaker left');
  assert.equal(got.result.structuredContent.acquired, true, JSON.stringify(got));
  assert.match(server.stderr, /waiting again/);

  assert.ok(await stillMine(server, 4, 'other'), 'the other hold is still the server\'s');
  assert.ok(await stillMine(server, 5, 'late'), 'and so is the lock it waited for');
  const events = auditEvents(root).filter((e) => e.name === 'late').map((e) => e.event);
  assert.equal(events.filter((e) => e === 'lost').length, 1, events.join(' '));
  assert.equal(events.filter((e) => e === 'acquire').length, 4, events.join(' '));
  await server.close();
  const ended = auditEvents(root).filter((e) => (e.name === 'late' || e.name === 'other') && e.event === 'release');
  assert.equal(ended.filter((e) => e.pid === server.pid).length, 2, 'both holds released at the end');
});

await checks.run('renew of a hold loktd has fallen behind on: loktd renews it, the other hold lives on', async () => {
  const server = await startServer('agent-renew');
  const kept = await server.request(tool(2, 'acquire', { name: 'kept', ttl: '10m' }));
  assert.equal(kept.result.structuredContent.acquired, true, JSON.stringify(kept));
  const short = await server.request(tool(3, 'acquire', { name: 'short', ttl: '2s' }));
  assert.equal(short.result.structuredContent.acquired, true, JSON.stringify(short));
  const lockFile = path.join(root.path, 'locks', 'short.json');
  const granted = readFileSync(lockFile, 'utf8');
  // loktd stopped from the grant on, until less than 3/8 of the 2 s TTL is
  // left: a hold whose renewals loktd has fallen behind on.
  process.kill(root.daemon.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  try {
    await until(() => Date.now() - stoppedAt > 1400, 'most of the TTL to pass');
    server.writeLine(JSON.stringify(tool(4, 'renew', { name: 'short', ttl: '10m' })));
    // A renewal that does not wait for loktd answers at once; one that asks
    // loktd waits for it. How long to look only decides whether the first
    // kind is seen while loktd is still stopped, not what is asserted below.
    await until(() => server.messages.some((m) => m.id === 4) || Date.now() - stoppedAt > 1700, 'the renew to be asked');
  } finally {
    process.kill(root.daemon.pid, 'SIGCONT');
  }
  const renewed = await server.next((m) => m.id === 4, 20000);
  assert.ok(renewed.result && !renewed.result.isError, JSON.stringify(renewed));
  assert.ok(await stillMine(server, 5, 'kept'), 'the other hold is still the server\'s');
  assert.ok(await stillMine(server, 6, 'short'), 'the renewed hold is the server\'s');
  assert.notEqual(readFileSync(lockFile, 'utf8'), granted, 'the lock file was renewed');
  const events = auditEvents(root).filter((e) => e.name === 'kept' || e.name === 'short');
  assert.ok(!events.some((e) => e.event === 'release' || e.event === 'lost' || e.event === 'stale-break'),
    events.map((e) => e.event).join(' '));
  await server.close();
});

await stopRoot(root);
process.exit(checks.finish());
