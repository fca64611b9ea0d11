#!/usr/bin/env node
// The permission check: every AWS request a Lifeboat function made (recorded by the emulator,
// scripts/moto_server.py with LIFEBOAT_CALL_LOG) must be allowed by that function's execution
// role in infra/template.yaml, resolved for the test parameters (scripts/iam/test-parameters.json).
//
// Requests answered by aws-smithy-mocks (what moto lacks or fakes) never reach the emulator; the
// tests that make them add shared/src/call_log.rs's Recorder to those clients, which writes the
// same lines to <dir>/mocked-<pid>.jsonl with "source": "aws-smithy-mocks" and the app given by
// the test. They are checked alike and count as uses of the grants they need, with two
// differences said here: their status is 200 for a mocked output and 400 for any mocked error
// (so an S3 read of an absent key is seen as such only from moto's 404s), and their tags,
// secrets and encrypted_with are the mocked world as the test declares it (moto's are the
// emulator's state).
//
//   node scripts/iam/check.mjs [--calls DIR] [--template FILE] [--params FILE] [--json FILE]
//
// The parameter file's values stand for the tests' world; `worlds` override them for the log
// files of tests that deploy otherwise, and `fromCalls` derives, per log file, values that are
// random in the emulator (hosted zone ids, from the zone names the tests create).
//
// Each request is attributed by the User-Agent's app/lifeboat-<function> (Aws::for_function);
// requests without it (the tests' own seeding) are not checked. Each is mapped to the IAM
// authorizations AWS makes for it (scripts/iam/requests.mjs), and each authorization is
// evaluated against the role's policies with @cloud-copilot/iam-simulate. Fails (exit 1) on:
//   - a request no statement allows (named with the action, the resource, and the statements
//     that come closest: the action granted on other resources, or a condition that fails);
//   - an S3 read of an absent key (moto answered 404) without s3:ListBucket on the bucket:
//     AWS answers 403 AccessDenied, not 404, and the code would not see "not found";
//   - a request the checker cannot map to IAM actions (it cannot prove it allowed).
// Lists, without failing: granted actions no recorded request used (per statement), and
// authorizations whose resource cannot be known from the request (said, not guessed).

import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs'
import { join, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { readTemplate, Bound, functionRoles, encryptedTopics, templateKeyPolicies } from './template.mjs'
import { authorizations } from './requests.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '../..')

// Actions the Lambda service performs with the role on the function's behalf, never the code:
// logs (the runtime's log delivery), the on-failure destination, the VPC network interfaces.
const USED_BY_LAMBDA = /^(logs:(CreateLogGroup|CreateLogStream|PutLogEvents)|sqs:SendMessage|ec2:(CreateNetworkInterface|DescribeNetworkInterfaces|DeleteNetworkInterface|DescribeSubnets|AssignPrivateIpAddresses|UnassignPrivateIpAddresses))$/

export function parseArgs(argv) {
  const o = { calls: join(root, 'target/calls'), template: join(root, 'infra/template.yaml'), params: join(here, 'test-parameters.json'), json: null, quiet: false }
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i]
    const next = () => { if (i + 1 >= argv.length) throw new Error(`${k} needs a value`); return argv[++i] }
    if (k === '--calls') o.calls = resolve(next())
    else if (k === '--template') o.template = resolve(next())
    else if (k === '--params') o.params = resolve(next())
    else if (k === '--json') o.json = resolve(next())
    else if (k === '--quiet') o.quiet = true
    else throw new Error(`unknown argument ${k}`)
  }
  return o
}

export function readCalls(dir) {
  if (!existsSync(dir)) throw new Error(`${dir}: no call log (run the tests with LIFEBOAT_CALL_LOG=${dir})`)
  const entries = []
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.jsonl')).sort()) {
    const lines = readFileSync(join(dir, f), 'utf8').split('\n')
    lines.forEach((line, i) => {
      if (!line.trim()) return
      try { entries.push({ ...JSON.parse(line), _at: `${f}:${i + 1}` }) } catch (e) { throw new Error(`${f}:${i + 1}: not JSON (${e.message})`) }
    })
  }
  return entries
}

function statementsOf(policies) {
  const out = []
  for (const p of policies) for (const s of p.document.Statement) out.push({ policy: p.name, managed: Boolean(p.managed), statement: s })
  return out
}

// One line per kind of denial, not per test: the random parts of names (a secret ARN's
// 6-character suffix, run ids and timestamps) are written as patterns.
const stable = (text) => text
  .replace(/(:secret:[^\s",]+?)-[A-Za-z0-9]{6}(?=[\s",]|$)/g, '$1-??????')
  .replace(/\d{8}T\d{6}Z-[0-9a-f]{8}/g, '<run>')
  .replace(/\d{8}-\d{4}(?=[\s",/]|$)/g, '<yyyymmdd-hhmm>')
  .replace(/lifeboat-verify-[0-9a-f]{8}/g, 'lifeboat-verify-<id>')
  .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, '<time>')

// An S3 object ARN is shown as its "directory" (one line for many objects of one prefix).
const group = (arn) => (arn.startsWith('arn:aws:s3:::') && arn.includes('/') ? arn.replace(/\/[^/]*$/, '/*') : arn)

const asList = (x) => (x === undefined ? [] : Array.isArray(x) ? x : [x])

// aws:RequestedRegion, a global key every request carries: the region the request was signed
// for (the recorded SigV4 region; us-east-1 for the global endpoints: Cost Explorer, Route 53).
const inRegion = (c, e) => (c.unknown || !e.region ? c : { ...c, context: { 'aws:RequestedRegion': e.region, ...c.context } })

// Runs one authorization against the role; the result carries the allowing statement ids, or,
// when denied, the closest statements and why they did not apply.
async function simulate(role, account, check, cache, keyPolicies = {}) {
  const key = JSON.stringify([check.action, check.resource, check.context])
  if (cache.has(key)) return cache.get(key)
  // KMS authorizes only through the key policy: a key of the template has its own; any other
  // (the customer's DR and export keys) the default key policy, which lets IAM policies grant
  // its use (the template's header requires that of those keys).
  const resourcePolicy = check.action.startsWith('kms:')
    ? keyPolicies[check.resource] ?? { Version: '2012-10-17', Statement: [{ Sid: 'DefaultKeyPolicy', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${account}:root` }, Action: 'kms:*', Resource: '*' }] }
    : undefined
  const sim = {
    identityPolicies: role.policies.map((p) => ({ name: p.name, policy: p.document })),
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    ...(resourcePolicy ? { resourcePolicy } : {}),
    request: {
      action: check.action,
      principal: `arn:aws:iam::${account}:role/${role.roleId}`,
      resource: { accountId: account, resource: check.resource },
      contextVariables: { 'aws:SecureTransport': 'true', ...check.context },
    },
  }
  let res = await runSimulation(sim, {})
  if (res.resultType === 'error') {
    // iam-simulate validates context keys against the Service Authorization Reference: retry
    // with only the global ones, and say so, before giving up.
    const globalOnly = Object.fromEntries(Object.entries(sim.request.contextVariables).filter(([k]) => k.startsWith('aws:')))
    const retry = await runSimulation({ ...sim, request: { ...sim.request, contextVariables: globalOnly } }, {})
    if (retry.resultType !== 'error') res = { ...retry, contextDropped: JSON.stringify(res.errors) }
  }
  let out
  if (res.resultType === 'error') {
    out = { error: JSON.stringify(res.errors) }
  } else {
    const results = res.resultType === 'single' ? [res.result] : res.results
    const allowed = res.overallResult === 'Allowed'
    const allow = new Set()
    const near = []
    // The statement as the template has it, by policy name and Sid (the explain's identifier).
    const own = (s) => {
      const sid = s.explain?.identifier
      const pol = role.policies.find((p) => p.name === s.policyId)
      return { sid, policy: s.policyId, st: pol?.document.Statement.find((x) => x.Sid === sid) ?? {} }
    }
    for (const r of results) {
      const ia = r.analysis?.identityAnalysis
      for (const s of ia?.allowStatements ?? []) { const o = own(s); allow.add(`${o.policy}#${o.sid}`) }
      if (!allowed) {
        for (const s of ia?.unmatchedStatements ?? []) {
          if (!s.actionMatch) continue
          const o = own(s)
          const why = s.resourceMatch !== true ? `grants ${check.action} on ${asList(o.st.Resource).join(', ')} only`
            : `grants it, but its Condition fails: ${JSON.stringify(o.st.Condition)}`
          near.push(`${o.policy.split('/')[0]} ${o.sid}: ${why}`)
        }
        for (const s of ia?.denyStatements ?? []) { const o = own(s); near.push(`${o.policy.split('/')[0]} ${o.sid}: explicit Deny`) }
        if (ia?.result === 'Allowed') near.push(`the role allows it (${[...allow].join(', ')}), the resource's policy does not (${r.analysis?.resourceAnalysis?.result})`)
      }
    }
    out = { allowed, allow: [...allow], near: [...new Set(near)], contextDropped: res.contextDropped }
  }
  cache.set(key, out)
  return out
}

// Parameters whose test value exists only once a test has run (test-parameters.json's
// fromCalls): moto gives hosted zones random ids, so a zone is named there by its name, and each
// log file (one emulator, one test) has the ids of the zones of those names the recorder saw
// (entry.zones, {id: name}, logged for every Route 53 request naming a zone, the test's own
// seeding included). A file in which none was seen keeps the value in `parameters`.
const zoneName = (n) => String(n).toLowerCase().replace(/\.?$/, '.')
export function derivedParameters(fromCalls, entries) {
  const out = {}
  for (const [param, rule] of Object.entries(fromCalls ?? {})) {
    if (param.startsWith('_')) continue
    if (!Array.isArray(rule?.hostedZonesNamed)) throw new Error(`fromCalls.${param}: expected {"hostedZonesNamed": [zone names]}, got ${JSON.stringify(rule)}`)
    const want = new Set(rule.hostedZonesNamed.map(zoneName))
    const ids = new Set()
    for (const e of entries) for (const [id, name] of Object.entries(e.zones ?? {})) if (want.has(zoneName(name))) ids.add(id)
    if (ids.size) out[param] = [...ids].sort()
  }
  return out
}

// A world bound to the template: the roles, topic keys and key policies it resolves to.
function bind(tpl, w) {
  const bound = new Bound(tpl, w.p)
  w.roles = functionRoles(bound)
  w.topicKeys = encryptedTopics(bound)
  w.keyPolicies = templateKeyPolicies(bound)
  return w
}

export async function check({ calls, template, params }) {
  const p = typeof params === 'string' ? JSON.parse(readFileSync(params, 'utf8')) : params
  const tpl = typeof template === 'string' ? readTemplate(template) : template
  // The default world, and the worlds of tests that stand for another deployment (other bucket
  // names, another key): a log file (one emulator, one test) in which any request's path or body
  // contains a world's `when` text is checked with that world's parameters.
  const worlds = [{ name: null, p }, ...(p.worlds ?? []).map((w) => ({
    name: w.name, when: w.when,
    p: { ...p, parameters: { ...p.parameters, ...w.parameters }, resources: { ...p.resources, ...w.resources } },
  }))].map((w) => bind(tpl, w))
  const roles = worlds[0].roles
  const entries = typeof calls === 'string' ? readCalls(calls) : calls
  const fileOf = (e) => String(e._at ?? '').split(':')[0]
  const worldOf = {}
  const byFile = {}
  for (const e of entries) {
    (byFile[fileOf(e)] ??= []).push(e)
    const text = `${e.path ?? ''} ${(() => { try { return decodeURIComponent(e.body ?? '') } catch { return e.body ?? '' } })()}`
    const w = worlds.find((x) => x.when && text.includes(x.when))
    if (w) worldOf[fileOf(e)] = w
  }
  // Each file's world with the parameters derived from its own calls (fromCalls).
  for (const [file, list] of Object.entries(byFile)) {
    const derived = derivedParameters(p.fromCalls, list)
    if (!Object.keys(derived).length) continue
    const base = worldOf[file] ?? worlds[0]
    worldOf[file] = bind(tpl, { name: base.name, derived, p: { ...base.p, parameters: { ...base.p.parameters, ...derived } } })
  }
  // Simulations are cached per role and key policies as resolved: worlds that resolve a role
  // alike (every role but the one a derived parameter names) share its answers.
  const simCache = new Map()
  const cacheOf = (world, fn) => {
    const mine = (world.caches ??= {})
    if (!mine[fn]) {
      const key = JSON.stringify([world.roles[fn]?.policies, world.keyPolicies])
      if (!simCache.has(key)) simCache.set(key, new Map())
      mine[fn] = simCache.get(key)
    }
    return mine[fn]
  }
  const report = { functions: {}, unattributed: 0, failures: 0 }
  for (const e of entries) {
    const m = /^lifeboat-(.+)$/.exec(e.app ?? '')
    if (!m) { report.unattributed++; continue }
    const fn = m[1]
    const f = (report.functions[fn] ??= { calls: {}, denied: {}, handled: {}, absentWithoutList: {}, unmapped: {}, unknown: {}, errors: {}, used: new Set(), requests: 0, mocked: 0 })
    f.requests++
    if (e.source === MOCKED) f.mocked++
    const world = worldOf[fileOf(e)] ?? worlds[0]
    const { topicKeys, keyPolicies } = world
    const role = world.roles[fn]
    const auth = authorizations(e, { account: p.account, topicKeys })
    const callKey = `${auth.service}:${auth.operation ?? '?'} ${e.region ?? '?'}`
    f.calls[callKey] = (f.calls[callKey] ?? 0) + 1
    if (!role) { (f.errors[`no function ${fn} in the template`] ??= []).push(e._at); continue }
    if (auth.unmapped) { (f.unmapped[callKey] ??= []).push(e._at); continue }
    const cache = cacheOf(world, fn)
    const all = [...(auth.checks ?? []), ...(auth.implied ?? [])].map((c) => inRegion(c, e))
    for (const c of all) {
      if (c.unknown) { f.unknown[`${callKey}: ${c.unknown}`] = (f.unknown[`${callKey}: ${c.unknown}`] ?? 0) + 1; continue }
      const r = await simulate(role, p.account, c, cache, keyPolicies)
      if (r.error) { (f.errors[`${callKey}: ${c.action} on ${c.resource}: simulator refused: ${r.error}`] ??= []).push(e._at); continue }
      if (r.contextDropped) f.unknown[`${callKey}: ${c.action}: service-specific context keys dropped (${r.contextDropped.slice(0, 120)})`] = 1
      if (r.allowed) { for (const s of r.allow) f.used.add(`${s}|${c.action}`); continue }
      // Shown: the context keys some statement of the role has a condition on.
      const condKeys = (role._condKeys ??= new Set(role.policies.flatMap((pol) => pol.document.Statement.flatMap((st) => Object.values(st.Condition ?? {}).flatMap((o) => Object.keys(o).map((x) => x.toLowerCase()))))))
      const shown = Object.fromEntries(Object.entries(c.context).filter(([x]) => condKeys.has(x.toLowerCase())))
      const k = stable(`${callKey} -> ${c.action} on ${group(c.resource)}${c.why ? ` (${c.why})` : ''}${Object.keys(shown).length ? ` with ${JSON.stringify(shown)}` : ''}`)
      // A resource that did not exist has no tags: on AWS a tag condition then answers
      // AccessDenied where the emulator said not found.
      const absentResource = e.status === 404 && e.tags && Object.keys(e.tags[c.resource] ?? {}).length === 0 && /ResourceTag/.test(JSON.stringify(r.near))
      // A delete the code settles by looking (AccessDenied, then a lookup that finds nothing,
      // is already done): expected on AWS, listed, not a failure.
      if (absentResource && SETTLED_BY_LOOKUP[fn]?.has(c.action)) {
        const h = (f.handled[k] ??= { count: 0, at: e._at })
        h.count++
        continue
      }
      const d = (f.denied[k + (absentResource ? ' [the resource did not exist: AWS answers AccessDenied, not NotFound]' : '')] ??= { count: 0, near: r.near, at: e._at, example: c.resource, worlds: new Set() })
      d.count++
      if (world.name) d.worlds.add(world.name)
    }
    if (auth.absent) {
      const c = inRegion({ action: 's3:ListBucket', resource: auth.absent.bucketArn, context: {} }, e)
      const r = await simulate(role, p.account, c, cache, keyPolicies)
      if (r.allowed) { for (const s of r.allow) f.used.add(`${s}|s3:ListBucket`) }
      else {
        const k = stable(`${world.name ? `[${world.name}] ` : ''}${callKey} of absent s3://${auth.absent.bucket}/${auth.absent.key}`)
        const d = (f.absentWithoutList[k] ??= { count: 0, at: e._at })
        d.count++
      }
    }
  }
  // Granted actions no recorded request used, per statement.
  for (const [fn, role] of Object.entries(roles)) {
    const f = (report.functions[fn] ??= { calls: {}, denied: {}, handled: {}, absentWithoutList: {}, unmapped: {}, unknown: {}, errors: {}, used: new Set(), requests: 0, mocked: 0 })
    f.unused = []
    f.byLambda = []
    for (const { policy, managed, statement } of statementsOf(role.policies)) {
      if (statement.Effect !== 'Allow') continue
      for (const action of asList(statement.Action)) {
        const id = `${policy}#${statement.Sid}|${action}`
        if (USED_BY_LAMBDA.test(action)) { f.byLambda.push(`${statement.Sid}: ${action}`); continue }
        const used = [...f.used].some((u) => {
          const [sid, act] = u.split('|')
          if (sid !== `${policy}#${statement.Sid}`) return false
          const pattern = new RegExp('^' + action.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i')
          return pattern.test(act)
        })
        if (!used) f.unused.push(`${policy.split('/')[0]} ${statement.Sid}${managed ? ' (managed)' : ''}: ${action}`)
      }
    }
  }
  for (const f of Object.values(report.functions)) {
    f.failures = Object.keys(f.denied).length + Object.keys(f.absentWithoutList).length + Object.keys(f.unmapped).length + Object.keys(f.errors).length
    report.failures += f.failures
  }
  return report
}

// The source of the lines shared/src/call_log.rs writes (moto's lines have none).
export const MOCKED = 'aws-smithy-mocks'

// Deletes gated by an aws:ResourceTag condition whose AccessDenied on a resource that no longer
// exists (the SDK's retry after a lost answer) the code settles by looking it up:
// functions/snapshot-export/src/execute/mod.rs settle_delete, tested in execute/step_tests.rs.
// Per function: the tag-gated deletes its code settles by a lookup when AWS denies them
// (snapshot-export: execute::settle_delete; failover-orchestrator: its drill teardown).
const SETTLED_BY_LOOKUP = {
  'snapshot-export': new Set(['rds:DeleteDBSnapshot', 'rds:DeleteDBClusterSnapshot', 'elasticache:DeleteSnapshot']),
  'failover-orchestrator': new Set(['rds:DeleteDBInstance', 'elasticache:DeleteReplicationGroup', 'secretsmanager:DeleteSecret']),
}

export function print(report, log = console.log) {
  const names = Object.keys(report.functions).sort()
  for (const fn of names) {
    const f = report.functions[fn]
    log(`\n-- ${fn}: ${f.requests} recorded requests${f.mocked ? ` (${f.mocked} answered by ${MOCKED})` : ''}, ${Object.keys(f.calls).length} distinct calls`)
    for (const [k, n] of Object.entries(f.calls).sort()) log(`   ${k.padEnd(62)} x${n}`)
    for (const [k, d] of Object.entries(f.denied)) {
      log(`   DENIED ${k} (x${d.count}, e.g. ${stable(d.example)} at ${d.at}${d.worlds.size ? `; also in the worlds of ${[...d.worlds].join(', ')}` : ''})`)
      log(`          needs: ${d.near.length ? d.near.join('; ') : `a statement granting it: no statement of the role grants ${k.split(' -> ')[1].split(' ')[0]}`}`)
    }
    for (const [k, h] of Object.entries(f.handled ?? {})) log(`   denied on AWS, settled by the code (the resource was gone: a lookup finds nothing, so the delete is done): ${k} (x${h.count}, first ${h.at})`)
    for (const [k, d] of Object.entries(f.absentWithoutList)) log(`   ABSENT-KEY READ WITHOUT s3:ListBucket (AWS answers 403, not 404): ${k} (x${d.count}, first ${d.at})`)
    for (const [k, at] of Object.entries(f.unmapped)) log(`   UNMAPPED (the checker cannot prove it): ${k} (x${at.length}, first ${at[0]})`)
    for (const [k, at] of Object.entries(f.errors)) log(`   ERROR ${k} (first ${at[0]})`)
    for (const k of Object.keys(f.unknown)) log(`   not checked, cannot be known: ${k}`)
    if (f.unused?.length) {
      log(`   granted, never used by a recorded call:`)
      for (const u of f.unused) log(`     ${u}`)
    }
    if (f.byLambda?.length) log(`   used by the Lambda service, not the code: ${f.byLambda.join('; ')}`)
  }
  log(`\nrecorded calls per function (requests / distinct service:operation region / denied / absent-key reads without ListBucket / unmapped / unused grants):`)
  for (const fn of names) {
    const f = report.functions[fn]
    log(`  ${fn.padEnd(24)} ${String(f.requests).padStart(6)} ${String(Object.keys(f.calls).length).padStart(4)} ${String(Object.keys(f.denied).length).padStart(4)} ${String(Object.keys(f.absentWithoutList).length).padStart(4)} ${String(Object.keys(f.unmapped).length).padStart(4)} ${String(f.unused?.length ?? 0).padStart(4)}`)
  }
  log(`  (${report.unattributed} requests without a Lifeboat app name: the seeding and read-back of the tests or the demo, not checked)`)
}

async function main() {
  const o = parseArgs(process.argv.slice(2))
  const report = await check(o)
  print(report)
  if (o.json) writeFileSync(o.json, JSON.stringify(report, (k, v) => (v instanceof Set ? [...v] : v), 2))
  if (Object.keys(report.functions).every((fn) => report.functions[fn].requests === 0)) {
    console.log('\nIAM check: FAILED: no request of a Lifeboat function was recorded (is LIFEBOAT_CALL_LOG reaching the emulator?)')
    process.exit(1)
  }
  if (report.failures) {
    console.log(`\nIAM check: FAILED: ${report.failures} finding(s) above (DENIED / ABSENT-KEY READ / UNMAPPED / ERROR)`)
    process.exit(1)
  }
  console.log('\nIAM check: every recorded call is allowed by its role')
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => { console.error(`IAM check: ${e.message}`); process.exit(2) })
}
